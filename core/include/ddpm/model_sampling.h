#pragma once
// What a model's description requires of the options it is sampled with: the one place that
// decides it for the plugin's jobs and streams, the trainer's grids and the benches.
//   - A distilled model (ModelInfo::distilled_steps > 0) was trained to match its teacher with
//     the steps of one sampler on one grid (distilled_sampler: deterministic DDIM with eta 0, or
//     DPM-Solver++ SDE at first order; distilled_spacing: trailing or tuned): it samples with
//     those, and its own step count when none is asked for (0). Other samplers would integrate
//     a network that is not a noise predictor of the data any more.
//   - A model that takes the guidance scale as an input allows 0 (unconditional) or a scale in
//     the range it was trained on; it has no separate branches to rescale.
#include <string>
#include <vector>

#include "ddpm/io/model_info.h"
#include "ddpm/sampler.h"
#include "ddpm/stream.h"

namespace ddpm {

// Adjusts `o` and returns a warning for each explicit request it changed (a sampler, eta or
// spacing a distilled model cannot use); a negative alpha cutoff becomes the model's. Throws
// ddpm::Error for a guidance scale the model does not allow.
std::vector<std::string> fit_to_model(SampleOptions& o, const io::ModelInfo& info);
// The same for a stream; its `steps` 0 becomes the model's (8 for an undistilled one), its
// grid default_spacing's (below), the one a job of the same sampler and steps takes, and its
// alpha cutoff the model's.
std::vector<std::string> fit_to_model(StreamOptions& o, const io::ModelInfo& info);

// The grid a job or stream of this model takes when the caller names none: default_spacing
// (sampler.h), except that a step-distilled model keeps the grid it was distilled on.
Spacing default_spacing(const io::ModelInfo& info, SamplerKind kind, int steps);

// check_guidance (sampler.h) plus a guidance-input model's range.
void check_guidance(float guidance, const io::ModelInfo& info);

}  // namespace ddpm
