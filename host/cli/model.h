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

// Throws Exit (user error) when the file is missing or not a model, or the device is unknown
// or absent. `device`: "" for the plugin's default (the CPU), else ddpm_model_params.device.
void load_model(const std::string& path, Model& m, const std::string& device = "");

// --device of `sample` and `stream`.
inline const char* const kDeviceHelp =
    "where the model runs: cpu (default), cuda, cuda:N, or auto (CUDA when the plugin was built "
    "with it and a GPU is present)";

// One name per class: the model's own, else class_<i>.
std::vector<std::string> class_names_of(const Model& m);

// A class option (a name of the model's classes or an index) as its index, -1 when empty;
// a user error naming `option` and the known classes otherwise.
int resolve_class(const Model& m, const std::string& arg, const std::string& option);

}  // namespace ddpm_cli
