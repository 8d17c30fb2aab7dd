#pragma once
// A model opened through the plugin, with its shape and its JSON description.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ddpm_plugin.h"

namespace ddpm_cli {

struct Model {
  ddpm_model* handle = nullptr;
  int width = 0, height = 0, channels = 0, num_classes = 0, timesteps = 0;
  nlohmann::json info;
  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model();
};

// Throws Exit (user error) when the file is missing or not a model.
void load_model(const std::string& path, Model& m);

// One name per class: the model's own, else class_<i>.
std::vector<std::string> class_names_of(const Model& m);

}  // namespace ddpm_cli
