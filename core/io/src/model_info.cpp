#include "ddpm/io/model_info.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "ddpm/io/error.h"

namespace ddpm::io {
using nlohmann::json;

namespace {

// Bounds on what a file may declare, checked before anything is built from it.
constexpr std::size_t kMaxClassNameLength = 256;
constexpr std::size_t kMaxListLength = 64;

// Deeper than any model description; bounds the parser's work on "[[[[...".
constexpr int kMaxJsonDepth = 16;

[[noreturn]] void bad(const std::string& file, const std::string& what) {
  throw Error("model file '" + file + "': " + what);
}

const json& member(const json& j, const char* key, const std::string& file, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end()) bad(file, "field '" + where + key + "' is missing");
  return *it;
}

// Numbers are read with their range checked first: nlohmann's get<int>() on 1e300 or
// get<float>() on 1e300 is a C++ conversion with undefined behaviour.
std::int64_t integer(const json& v, const std::string& file, const std::string& name,
                     std::int64_t lo, std::int64_t hi) {
  const auto range = [&](const std::string& value) {
    bad(file, "field '" + name + "' = " + value + " is out of range (" + std::to_string(lo) +
                  " to " + std::to_string(hi) + ")");
  };
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi)) range(std::to_string(u));
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    if (i < lo || i > hi) range(std::to_string(i));
    return i;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // Integral values written as floats (3.0) are taken; anything else is not a count.
    // (hi + 1.0: the first value past the range, exact for int; for int64 it rounds to 2^63.)
    if (!(d >= static_cast<double>(lo) && d < static_cast<double>(hi) + 1.0)) range(v.dump());
    if (d != static_cast<double>(static_cast<std::int64_t>(d))) {
      bad(file, "field '" + name + "' = " + v.dump() + " is not a whole number");
    }
    return static_cast<std::int64_t>(d);
  }
  bad(file, "field '" + name + "' has the wrong type (" + v.type_name() + ", not a number)");
}

int int_field(const json& j, const char* key, const std::string& file, const std::string& where) {
  return static_cast<int>(integer(member(j, key, file, where), file, where + key,
                                  std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

double real_field(const json& j, const char* key, const std::string& file, const std::string& where) {
  const json& v = member(j, key, file, where);
  if (!v.is_number()) {
    bad(file, "field '" + where + key + "' has the wrong type (" + v.type_name() + ", not a number)");
  }
  return v.get<double>();
}

// A float field: out-of-range values become NaN here, which validate() refuses by name;
// converting them to float directly would be undefined.
float float_field(const json& j, const char* key, const std::string& file, const std::string& where) {
  const double v = real_field(j, key, file, where);
  return v >= -1e6 && v <= 1e6 ? static_cast<float>(v) : std::numeric_limits<float>::quiet_NaN();
}

std::string string_field(const json& j, const char* key, const std::string& file,
                         const std::string& where) {
  const json& v = member(j, key, file, where);
  if (!v.is_string()) {
    bad(file, "field '" + where + key + "' has the wrong type (" + v.type_name() + ", not a string)");
  }
  return v.get<std::string>();
}

const json& object_field(const json& j, const char* key, const std::string& file) {
  const json& v = member(j, key, file, "");
  if (!v.is_object()) bad(file, "field '" + std::string(key) + "' is not an object");
  return v;
}

std::vector<int> int_list(const json& j, const char* key, const std::string& file) {
  const json& v = member(j, key, file, "unet.");
  const std::string name = std::string("unet.") + key;
  if (!v.is_array()) bad(file, "field '" + name + "' has the wrong type (" + v.type_name() + ", not a list)");
  if (v.size() > kMaxListLength) {
    bad(file, "field '" + name + "' has " + std::to_string(v.size()) + " entries, more than " +
                  std::to_string(kMaxListLength));
  }
  std::vector<int> out;
  for (const auto& e : v) {
    out.push_back(static_cast<int>(integer(e, file, name + "[]", std::numeric_limits<int>::min(),
                                           std::numeric_limits<int>::max())));
  }
  return out;
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
  if (prediction != "eps") {
    throw Error("field 'prediction' = '" + prediction + "' is not supported: this build samples 'eps' models");
  }
  if (!(snr_gamma >= 0 && snr_gamma <= 1e6)) {
    throw Error("field 'snr_gamma' = " + std::to_string(snr_gamma) + " is invalid: allowed 0 to 1e6");
  }
  if (!(alpha_cutoff >= 0 && alpha_cutoff < 1)) {
    throw Error("field 'alpha_cutoff' = " + std::to_string(alpha_cutoff) + " is invalid: allowed 0 to below 1");
  }
  if (alpha_cutoff > 0 && unet.in_channels != 4) {
    throw Error("field 'alpha_cutoff' is set for a model of " + std::to_string(unet.in_channels) +
                " channels: only 4-channel (RGBA) images have an alpha");
  }
  if (distilled_steps < 0 || distilled_steps > schedule.timesteps) {
    throw Error("field 'distilled.steps' = " + std::to_string(distilled_steps) + " is invalid: allowed 0 (not distilled) to " +
                std::to_string(schedule.timesteps) + " (the schedule's T)");
  }
  if (distilled_sampler != "ddim" && distilled_sampler != "dpmpp2m_sde") {
    throw Error("field 'distilled.sampler' = '" + distilled_sampler + "' is invalid: allowed 'ddim' or 'dpmpp2m_sde'");
  }
  if (distilled_spacing != "trailing" && distilled_spacing != "tuned") {
    throw Error("field 'distilled.spacing' = '" + distilled_spacing + "' is invalid: allowed 'trailing' or 'tuned'");
  }
  if (unet.guidance_input) {
    if (!(guidance_min >= 1 && guidance_min <= guidance_max && guidance_max <= 100)) {
      throw Error("fields 'distilled.guidance_min' = " + std::to_string(guidance_min) + " and 'distilled.guidance_max' = " +
                  std::to_string(guidance_max) + " are invalid: need 1 <= min <= max <= 100");
    }
    if (!(guidance == 0 || (guidance >= guidance_min && guidance <= guidance_max))) {
      throw Error("field 'guidance' = " + std::to_string(guidance) + " is outside the model's guidance range " +
                  std::to_string(guidance_min) + " to " + std::to_string(guidance_max));
    }
  } else if (guidance_min != 0 || guidance_max != 0) {
    throw Error("fields 'distilled.guidance_min/max' are set but the network does not take a guidance scale");
  }
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
        {"num_classes", u.num_classes},
        {"norm_groups", u.norm_groups},
        {"scale_shift", u.scale_shift}}},
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
      {"prediction", m.prediction},
      {"snr_gamma", m.snr_gamma},
  };
  // Written only where used, so files of undistilled models read the same in older builds.
  if (u.guidance_input) j["unet"]["guidance_input"] = true;
  // As printed (0.05, not the float's 0.05000000074505806); reads back as the same float.
  if (m.alpha_cutoff > 0) j["alpha_cutoff"] = std::stod(number_text(m.alpha_cutoff));
  if (m.distilled() || u.guidance_input) {
    j["distilled"] = {{"steps", m.distilled_steps}, {"guidance_min", m.guidance_min}, {"guidance_max", m.guidance_max}};
    if (m.distilled()) j["distilled"]["sampler"] = m.distilled_sampler;
    if (m.distilled() && m.distilled_spacing != "trailing") j["distilled"]["spacing"] = m.distilled_spacing;
  }
  return j.dump(1);
}

ModelInfo model_info_from_json(const std::string& text, const std::string& file) {
  json j;
  try {
    // The callback bounds the nesting before anything deep is built.
    j = json::parse(text, [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) {
        throw Error("model file '" + file + "': its model description is nested deeper than " +
                    std::to_string(kMaxJsonDepth) + " levels");
      }
      return true;
    });
  } catch (const json::exception& e) {
    throw Error("model file '" + file + "': its model description is not valid JSON (" +
                std::string(e.what()) + ")");
  }
  if (!j.is_object()) throw Error("model file '" + file + "': its model description is not a JSON object");
  ModelInfo m;
  m.format_version = int_field(j, "format_version", file, "");
  if (m.format_version < 1 || m.format_version > kModelFormatVersion) {
    throw Error("model file '" + file + "' has format version " + std::to_string(m.format_version) +
                ": this build reads versions 1 to " + std::to_string(kModelFormatVersion));
  }
  const json& u = object_field(j, "unet", file);
  m.unet.preset = string_field(u, "preset", file, "unet.");
  m.unet.in_channels = int_field(u, "in_channels", file, "unet.");
  m.unet.out_channels = int_field(u, "out_channels", file, "unet.");
  m.unet.image_size = int_field(u, "image_size", file, "unet.");
  m.unet.base_channels = int_field(u, "base_channels", file, "unet.");
  m.unet.channel_mult = int_list(u, "channel_mult", file);
  m.unet.attention_resolutions = int_list(u, "attention_resolutions", file);
  m.unet.attention_heads = int_field(u, "attention_heads", file, "unet.");
  m.unet.time_dim = int_field(u, "time_dim", file, "unet.");
  m.unet.num_classes = int_field(u, "num_classes", file, "unet.");
  // Newer fields: files written before them hold the reference's block style.
  if (u.contains("norm_groups")) m.unet.norm_groups = int_field(u, "norm_groups", file, "unet.");
  if (u.contains("scale_shift")) {
    const json& v = u.at("scale_shift");
    if (!v.is_boolean()) bad(file, "field 'unet.scale_shift' is not true or false");
    m.unet.scale_shift = v.get<bool>();
  }
  if (u.contains("guidance_input")) {
    const json& v = u.at("guidance_input");
    if (!v.is_boolean()) bad(file, "field 'unet.guidance_input' is not true or false");
    m.unet.guidance_input = v.get<bool>();
  }
  const json& s = object_field(j, "schedule", file);
  try {
    m.schedule.kind = schedule_kind_from_string(string_field(s, "kind", file, "schedule."));
    m.variance = variance_from_string(string_field(j, "variance", file, ""));
  } catch (const Error& e) {
    throw Error("model file '" + file + "': " + e.what());
  }
  m.schedule.timesteps = int_field(s, "timesteps", file, "schedule.");
  m.schedule.beta_start = real_field(s, "beta_start", file, "schedule.");
  m.schedule.beta_end = real_field(s, "beta_end", file, "schedule.");
  m.schedule.cosine_s = real_field(s, "cosine_s", file, "schedule.");
  const json& names = member(j, "class_names", file, "");
  if (!names.is_array() || names.size() > 100000) {
    throw Error("model file '" + file + "': field 'class_names' is not a list of at most 100000 names");
  }
  for (const auto& n : names) {
    if (!n.is_string()) bad(file, "field 'class_names' holds a " + std::string(n.type_name()) + ", not a name");
    m.class_names.push_back(n.get<std::string>());
  }
  m.guidance = float_field(j, "guidance", file, "");
  m.training_step = integer(member(j, "training_step", file, ""), file, "training_step",
                            std::numeric_limits<std::int64_t>::min(),
                            std::numeric_limits<std::int64_t>::max());
  m.weights = string_field(j, "weights", file, "");
  // Newer fields; files written before them were trained on the plain noise MSE.
  if (j.contains("prediction")) m.prediction = string_field(j, "prediction", file, "");
  if (j.contains("snr_gamma")) m.snr_gamma = real_field(j, "snr_gamma", file, "");
  if (j.contains("alpha_cutoff")) m.alpha_cutoff = float_field(j, "alpha_cutoff", file, "");
  if (j.contains("distilled")) {
    const json& d = object_field(j, "distilled", file);
    m.distilled_steps = int_field(d, "steps", file, "distilled.");
    if (d.contains("sampler")) m.distilled_sampler = string_field(d, "sampler", file, "distilled.");
    if (d.contains("spacing")) m.distilled_spacing = string_field(d, "spacing", file, "distilled.");
    m.guidance_min = float_field(d, "guidance_min", file, "distilled.");
    m.guidance_max = float_field(d, "guidance_max", file, "distilled.");
  }
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
