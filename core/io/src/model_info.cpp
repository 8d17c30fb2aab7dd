#include "ddpm/io/model_info.h"

#include <nlohmann/json.hpp>

#include "ddpm/io/error.h"

namespace ddpm::io {
using nlohmann::json;

namespace {

// Bounds on what a file may declare, checked before anything is built from it.
constexpr std::size_t kMaxClassNameLength = 256;
constexpr std::size_t kMaxListLength = 64;

template <typename T>
T field(const json& j, const char* key, const std::string& file, const std::string& where) {
  if (!j.contains(key)) {
    throw Error("model file '" + file + "': field '" + where + key + "' is missing");
  }
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw Error("model file '" + file + "': field '" + where + key + "' has the wrong type (" +
                j.at(key).type_name() + ")");
  }
}

std::vector<int> int_list(const json& j, const char* key, const std::string& file) {
  const auto v = field<std::vector<int>>(j, key, file, "unet.");
  if (v.size() > kMaxListLength) {
    throw Error("model file '" + file + "': field 'unet." + key + "' has " +
                std::to_string(v.size()) + " entries, more than " + std::to_string(kMaxListLength));
  }
  return v;
}

}  // namespace

std::vector<std::string> default_class_names(int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("class_" + std::to_string(i));
  return names;
}

void ModelInfo::validate() const {
  unet.validate();
  schedule.validate();
  if (static_cast<int>(class_names.size()) != unet.num_classes) {
    throw Error("model has " + std::to_string(unet.num_classes) + " classes but " +
                std::to_string(class_names.size()) + " class names: field 'class_names'");
  }
  for (const auto& n : class_names) {
    if (n.empty() || n.size() > kMaxClassNameLength) {
      throw Error("class name '" + n.substr(0, 40) + "' is invalid: 1 to " +
                  std::to_string(kMaxClassNameLength) + " characters");
    }
  }
  if (!(guidance >= 0 && guidance <= 100)) {
    throw Error("field 'guidance' = " + std::to_string(guidance) + " is invalid: allowed 0 to 100");
  }
  if (training_step < 0) throw Error("field 'training_step' is negative");
  if (weights != "ema" && weights != "raw") {
    throw Error("field 'weights' = '" + weights + "' is invalid: allowed 'ema' or 'raw'");
  }
}

std::string to_json(const ModelInfo& m) {
  const UNetConfig& u = m.unet;
  json j = {
      {"format_version", m.format_version},
      {"unet",
       {{"preset", u.preset},
        {"in_channels", u.in_channels},
        {"out_channels", u.out_channels},
        {"image_size", u.image_size},
        {"base_channels", u.base_channels},
        {"channel_mult", u.channel_mult},
        {"attention_resolutions", u.attention_resolutions},
        {"attention_heads", u.attention_heads},
        {"time_dim", u.time_dim},
        {"num_classes", u.num_classes}}},
      {"schedule",
       {{"kind", to_string(m.schedule.kind)},
        {"timesteps", m.schedule.timesteps},
        {"beta_start", m.schedule.beta_start},
        {"beta_end", m.schedule.beta_end},
        {"cosine_s", m.schedule.cosine_s}}},
      {"variance", to_string(m.variance)},
      {"class_names", m.class_names},
      {"guidance", m.guidance},
      {"training_step", m.training_step},
      {"weights", m.weights},
  };
  return j.dump(1);
}

ModelInfo model_info_from_json(const std::string& text, const std::string& file) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error("model file '" + file + "': its model description is not valid JSON (" +
                std::string(e.what()) + ")");
  }
  if (!j.is_object()) throw Error("model file '" + file + "': its model description is not a JSON object");
  ModelInfo m;
  m.format_version = field<int>(j, "format_version", file, "");
  if (m.format_version < 1 || m.format_version > kModelFormatVersion) {
    throw Error("model file '" + file + "' has format version " + std::to_string(m.format_version) +
                ": this build reads versions 1 to " + std::to_string(kModelFormatVersion));
  }
  const json u = field<json>(j, "unet", file, "");
  if (!u.is_object()) throw Error("model file '" + file + "': field 'unet' is not an object");
  m.unet.preset = field<std::string>(u, "preset", file, "unet.");
  m.unet.in_channels = field<int>(u, "in_channels", file, "unet.");
  m.unet.out_channels = field<int>(u, "out_channels", file, "unet.");
  m.unet.image_size = field<int>(u, "image_size", file, "unet.");
  m.unet.base_channels = field<int>(u, "base_channels", file, "unet.");
  m.unet.channel_mult = int_list(u, "channel_mult", file);
  m.unet.attention_resolutions = int_list(u, "attention_resolutions", file);
  m.unet.attention_heads = field<int>(u, "attention_heads", file, "unet.");
  m.unet.time_dim = field<int>(u, "time_dim", file, "unet.");
  m.unet.num_classes = field<int>(u, "num_classes", file, "unet.");
  const json s = field<json>(j, "schedule", file, "");
  if (!s.is_object()) throw Error("model file '" + file + "': field 'schedule' is not an object");
  m.schedule.kind = schedule_kind_from_string(field<std::string>(s, "kind", file, "schedule."));
  m.schedule.timesteps = field<int>(s, "timesteps", file, "schedule.");
  m.schedule.beta_start = field<double>(s, "beta_start", file, "schedule.");
  m.schedule.beta_end = field<double>(s, "beta_end", file, "schedule.");
  m.schedule.cosine_s = field<double>(s, "cosine_s", file, "schedule.");
  m.variance = variance_from_string(field<std::string>(j, "variance", file, ""));
  const json names = field<json>(j, "class_names", file, "");
  if (!names.is_array() || names.size() > 100000) {
    throw Error("model file '" + file + "': field 'class_names' is not a list of at most 100000 names");
  }
  m.class_names = field<std::vector<std::string>>(j, "class_names", file, "");
  m.guidance = field<float>(j, "guidance", file, "");
  m.training_step = field<int64_t>(j, "training_step", file, "");
  m.weights = field<std::string>(j, "weights", file, "");
  try {
    m.validate();
  } catch (const Error& e) {
    throw Error("model file '" + file + "': " + e.what());
  }
  return m;
}

std::map<std::string, std::string> to_metadata(const ModelInfo& info) {
  return {{kFormatKey, "ddpm-realtime"}, {kModelKey, to_json(info)}};
}

ModelInfo model_info_from_metadata(const std::map<std::string, std::string>& metadata,
                                   const std::string& file) {
  const auto it = metadata.find(kModelKey);
  if (it == metadata.end()) {
    throw Error("file '" + file + "' is a safetensors file without a model description (no '" +
                std::string(kModelKey) + "' entry in its __metadata__): not a ddpm-realtime model");
  }
  return model_info_from_json(it->second, file);
}

}  // namespace ddpm::io
