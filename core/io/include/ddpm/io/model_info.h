#pragma once
// The description a model file carries beside its weights: architecture, schedule, variance,
// class names, guidance default and training step. Stored as JSON in the safetensors header's
// __metadata__, so loading needs nothing but the file. Torch-free: the JSON comes from files
// of strangers and is parsed and validated here, where sanitizers and fuzzers reach it.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ddpm/schedule_config.h"
#include "ddpm/unet_config.h"

namespace ddpm::io {

constexpr int kModelFormatVersion = 1;
// The __metadata__ keys of a model file.
constexpr const char* kFormatKey = "format";  // "ddpm-realtime"
constexpr const char* kModelKey = "ddpm";     // the JSON of ModelInfo

struct ModelInfo {
  int format_version = kModelFormatVersion;
  UNetConfig unet;
  ScheduleConfig schedule;
  Variance variance = Variance::Beta;
  std::vector<std::string> class_names;  // unet.num_classes entries, in label order
  float guidance = 3.0f;                 // default classifier-free guidance scale
  int64_t training_step = 0;
  std::string weights = "ema";  // which weights the file holds: "ema" or "raw"
  // How it was trained, where that changes sampling or further training. The network
  // predicts the noise ("eps", the only parameterisation this build samples; a file that says
  // otherwise is refused rather than sampled wrongly). snr_gamma > 0: the min-SNR-gamma loss
  // weighting of its last training run (sampling is the same).
  std::string prediction = "eps";
  double snr_gamma = 0;
  // Distilled models (core/include/ddpm/distill.h): the DDIM step count the network was
  // distilled for (0: not distilled; sampling then uses DDIM with these steps, trailing, eta 0),
  // and for a model that takes the guidance scale as an input (unet.guidance_input) the range
  // of scales it was trained on (0, unconditional, is always allowed).
  int distilled_steps = 0;
  std::string distilled_sampler = "ddim";  // "ddim" (deterministic) or "dpmpp2m_sde" (first order)
  // The grid of those steps: "trailing", or "tuned" (ddpm::Spacing::Tuned, the noise levels
  // searched best at 1 to 5 steps; the name means today's table, so a student distilled on an
  // older one, which started at T-1, samples the new one). Files without the field were
  // distilled on the trailing grid.
  std::string distilled_spacing = "trailing";
  float guidance_min = 0, guidance_max = 0;
  // Sampled images' alpha below this becomes fully transparent (0: none; 4-channel models).
  // The trainer sets it where its training images have exactly transparent backgrounds
  // (AssetDataset::alpha_coverage): a short fine-tune leaves a faint haze there otherwise.
  float alpha_cutoff = 0;

  bool distilled() const { return distilled_steps > 0; }

  // Throws ddpm::Error naming the field: invalid architecture or schedule, class names that
  // disagree with the class count, a negative guidance or step, a guidance range that is
  // empty or does not hold the default.
  void validate() const;
};

std::string to_json(const ModelInfo& info);  // pretty enough for `info` output
// Parses and validates; `file` names the source in messages.
ModelInfo model_info_from_json(const std::string& json, const std::string& file);

std::map<std::string, std::string> to_metadata(const ModelInfo& info);
ModelInfo model_info_from_metadata(const std::map<std::string, std::string>& metadata,
                                   const std::string& file);

// "class_0" .. "class_{n-1}": names for models whose classes were never named.
std::vector<std::string> default_class_names(int n);

}  // namespace ddpm::io
