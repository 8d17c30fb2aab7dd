#pragma once
// A fine-tune blended with its base in weight space: base + strength * (tuned - base).
//
// A short fine-tune's weights carry the new style and the noise of a few thousand steps of
// SGD; keeping part of the base's weights (a weight-space ensemble of the two, as WiSE-FT,
// Wortsman et al. 2022, does for fine-tuned classifiers) removes more noise than style. On a
// 10-minute OpenMoji fine-tune through adapters, strength 0.85 lowered the feature distance
// from 1.84 to 1.63 (two training seeds, three draws each; 1.5 and 2, which extrapolate,
// doubled it), tests/bench/NOTES.md. Strength 1 is the tuned model itself.
#include "ddpm/model_file.h"

namespace ddpm {

// The tuned model with every weight it shares with `base` moved to base + strength * (tuned -
// base); rows of classes the fine-tune added (more class rows than base) stay tuned's. Throws
// ddpm::Error when the fine-tune's classes do not start with the base's or the two are not one
// architecture.
Model blend_fine_tune(const Model& base, const Model& tuned, double strength);

}  // namespace ddpm
