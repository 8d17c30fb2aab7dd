#include "ddpm/model_sampling.h"

#include "ddpm/io/error.h"

namespace ddpm {
namespace {

constexpr int kStreamStages = 8;  // an undistilled model's stream: 8 DDIM stages (tests/bench/NOTES.md)

template <typename Options>
std::vector<std::string> fit_sampler(Options& o, const io::ModelInfo& info) {
  std::vector<std::string> warnings;
  if (!info.distilled()) return warnings;
  const SamplerKind kind = sampler_from_string(info.distilled_sampler);
  const std::string why = " (the model is distilled for " + std::to_string(info.distilled_steps) + " " +
                          info.distilled_sampler + " steps)";
  if (o.sampler != kind) {
    warnings.push_back("sampler " + to_string(o.sampler) + " replaced by " + info.distilled_sampler + why);
    o.sampler = kind;
  }
  o.first_order = kind == SamplerKind::DPMSolverPP2MSDE;
  if (o.eta != 0.0f && kind == SamplerKind::DDIM) {
    warnings.push_back("eta " + number_text(o.eta) + " replaced by 0" + why);
    o.eta = 0.0f;
  }
  return warnings;
}

}  // namespace

void check_guidance(float guidance, const io::ModelInfo& info) {
  check_guidance(guidance);
  if (info.unet.guidance_input && guidance != 0 && !(guidance >= info.guidance_min && guidance <= info.guidance_max)) {
    throw Error("guidance scale " + number_text(guidance) + " is outside this distilled model's range: allowed 0 (unconditional) or " +
                number_text(info.guidance_min) + " to " + number_text(info.guidance_max));
  }
}

Spacing default_spacing(const io::ModelInfo& info, SamplerKind kind, int steps) {
  if (info.distilled()) return spacing_from_string(info.distilled_spacing);
  return default_spacing(kind, steps);
}

std::vector<std::string> fit_to_model(SampleOptions& o, const io::ModelInfo& info) {
  std::vector<std::string> warnings = fit_sampler(o, info);
  if (info.distilled() && o.spacing != default_spacing(info, o.sampler, o.steps)) {
    warnings.push_back("spacing " + to_string(o.spacing) + " replaced by " + info.distilled_spacing +
                       " (the model is distilled on that grid)");
    o.spacing = default_spacing(info, o.sampler, o.steps);
  }
  if (info.distilled() && o.steps == 0 && o.timesteps.empty()) o.steps = info.distilled_steps;
  if (o.alpha_cutoff < 0) o.alpha_cutoff = info.alpha_cutoff;
  check_guidance(o.guidance, info);
  return warnings;
}

std::vector<std::string> fit_to_model(StreamOptions& o, const io::ModelInfo& info) {
  std::vector<std::string> warnings = fit_sampler(o, info);
  if (o.steps == 0) o.steps = info.distilled() ? info.distilled_steps : kStreamStages;
  o.spacing = default_spacing(info, o.sampler, o.steps);  // a stream's caller names no grid
  if (o.alpha_cutoff < 0) o.alpha_cutoff = info.alpha_cutoff;
  return warnings;
}

}  // namespace ddpm
