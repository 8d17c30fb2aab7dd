#include "model_state.h"

#include "class_lookup.h"

#include <nlohmann/json.hpp>

namespace studio {

ModelState::~ModelState() {
  if (model_) plugin_.ddpm_model_free(model_);  // running jobs keep their own reference
}

void ModelState::unload() {
  if (model_) plugin_.ddpm_model_free(model_);
  model_ = nullptr;
  path_.clear();
}

bool ModelState::load(const std::string& path, std::string& error) {
  ddpm_model* m = nullptr;
  ddpm_model_params params;
  plugin_.ddpm_model_params_init(&params, sizeof params);
  params.device = device_.empty() ? nullptr : device_.c_str();
  if (plugin_.ddpm_model_load_ex(path.c_str(), &params, &m) != DDPM_OK) {
    error = plugin_.ddpm_last_error();
    return false;
  }
  char* text = nullptr;
  nlohmann::json info;
  if (plugin_.ddpm_model_info_json(m, &text) == DDPM_OK) {
    info = nlohmann::json::parse(text, nullptr, false);
    plugin_.ddpm_string_free(text);
  }
  int w = 0, h = 0, c = 0, n = 0, t = 0;
  plugin_.ddpm_model_get_shape(m, &w, &h, &c, &n, &t);
  if (model_) plugin_.ddpm_model_free(model_);
  model_ = m;
  path_ = path;
  width = w;
  height = h;
  channels = c;
  num_classes = n;
  timesteps = t;
  class_names.clear();
  samplers.clear();
  default_guidance = 3.0f;
  guidance_input = false;
  distilled_steps = 0;
  distilled_sampler.clear();
  std::string preset = "custom", device = "cpu";
  long long trained = 0;
  if (info.is_object()) {
    for (const auto& name : info.value("class_names", nlohmann::json::array())) {
      class_names.push_back(name.is_string() ? name.get<std::string>() : std::string("?"));
    }
    for (const auto& name : info.value("samplers", nlohmann::json::array())) {
      if (name.is_string()) samplers.push_back(name.get<std::string>());
    }
    default_guidance = info.value("guidance", 3.0f);
    if (info.contains("unet") && info["unet"].is_object()) preset = info["unet"].value("preset", preset);
    trained = info.value("training_step", 0LL);
    device = info.value("device", device);
    guidance_input = info.contains("unet") && info["unet"].is_object() && info["unet"].value("guidance_input", false);
    if (info.contains("distilled") && info["distilled"].is_object()) {
      distilled_steps = info["distilled"].value("steps", 0);
      distilled_sampler = info["distilled"].value("sampler", std::string("ddim"));
    }
  }
  while (static_cast<int>(class_names.size()) < num_classes) {
    class_names.push_back("class_" + std::to_string(class_names.size()));
  }
  if (samplers.empty()) samplers = {"ddpm", "ddim", "dpmpp2m", "euler_a", "dpmpp2m_sde"};
  summary = preset + ", " + std::to_string(w) + "x" + std::to_string(h) + "x" + std::to_string(c) + ", " +
            (n > 0 ? std::to_string(n) + " classes" : std::string("unconditional")) + ", T=" +
            std::to_string(t) + (trained > 0 ? ", trained " + std::to_string(trained) + " steps" : "") +
            (device != "cpu" ? ", on " + device : "");
  return true;
}

int ModelState::class_from_string(const std::string& s, std::string& error) const {
  const int c = ddpm_host::find_class(class_names, s, error);
  if (c == -2) error = "class " + error;
  return c;
}

}  // namespace studio
