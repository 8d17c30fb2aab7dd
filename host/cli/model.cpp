#include "model.h"

#include "class_lookup.h"
#include "cli_common.h"
#include "loaded_plugin.h"

namespace ddpm_cli {
using json = nlohmann::json;

Model::~Model() {
  if (handle) g_plugin.ddpm_model_free(handle);
}

void load_model(const std::string& path, Model& m, const std::string& device) {
  require_file(path, "model file");
  ddpm_model_params params;
  check(g_plugin.ddpm_model_params_init(&params, sizeof params), "model parameters");
  params.device = device.empty() ? nullptr : device.c_str();
  check(g_plugin.ddpm_model_load_ex(path.c_str(), &params, &m.handle),
        device.empty() ? "cannot load model '" + path + "'"
                       : "cannot load model '" + path + "' on --device " + device);
  check(g_plugin.ddpm_model_get_shape(m.handle, &m.width, &m.height, &m.channels, &m.num_classes,
                                      &m.timesteps),
        "model shape");
  char* text = nullptr;
  check(g_plugin.ddpm_model_info_json(m.handle, &text), "model description");
  try {
    m.info = json::parse(text);
  } catch (const std::exception& e) {
    g_plugin.ddpm_string_free(text);
    throw Exit{kExitInternal, std::string("the model description is not valid JSON: ") + e.what()};
  }
  g_plugin.ddpm_string_free(text);
}

std::vector<std::string> class_names_of(const Model& m) {
  std::vector<std::string> names;
  if (m.info.contains("class_names") && m.info["class_names"].is_array()) {
    for (const auto& n : m.info["class_names"]) names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
  }
  while (static_cast<int>(names.size()) < m.num_classes) names.push_back("class_" + std::to_string(names.size()));
  return names;
}

int resolve_class(const Model& m, const std::string& arg, const std::string& option) {
  std::string error;
  const int c = ddpm_host::find_class(class_names_of(m), arg, error);
  if (c == -2) user_error(option + " " + error);
  return c;
}

}  // namespace ddpm_cli
