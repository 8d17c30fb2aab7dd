#pragma once
// Small models with random weights, for tests of what is computed from several models' weights
// (a fine-tune's change, its Live student, its blend with the base).
#include <string>
#include <vector>

#include "ddpm/model_file.h"
#include "trained_model.h"

namespace ddpm::testing {

// The tiny 16x16 architecture with these classes and a 100-step schedule.
inline io::ModelInfo tiny_info(std::vector<std::string> classes) {
  io::ModelInfo info;
  info.unet = tiny16_architecture();
  info.unet.num_classes = static_cast<int>(classes.size());
  info.class_names = std::move(classes);
  info.schedule.timesteps = 100;
  return info;
}

// A model of `info` whose every weight is drawn from the seed (not the zero-initialised
// layers of a fresh network, so that every difference a test sees is a real one).
inline Model random_model(const io::ModelInfo& info, uint64_t seed) {
  torch::manual_seed(seed);
  Model m = make_model(info);
  torch::NoGradGuard no_grad;
  for (auto& p : m.unet->parameters()) p.normal_(0, 0.1);
  return m;
}

}  // namespace ddpm::testing
