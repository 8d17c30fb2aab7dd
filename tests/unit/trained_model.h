#pragma once
// A small class-conditional model trained on assets/samples (16x16 RGBA, 3 classes, labels
// dropped 10% of the time so guidance works), shared by the tests that need real samples.
// Trained once (about a minute on 2 cores) and cached as a model file in the build tree.
#include <torch/torch.h>

#include "ddpm/model_file.h"

namespace ddpm::testing {

Model trained_sample_model();
// A 0.35 M-parameter architecture for 16x16 RGBA, quick to train in tests.
UNetConfig tiny16_architecture();
// The asset images at 16x16 as [N, 4, 16, 16] in [-1, 1], and their labels.
std::pair<torch::Tensor, torch::Tensor> sample_assets_16();

}  // namespace ddpm::testing
