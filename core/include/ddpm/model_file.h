#pragma once
// Model files: the UNet's weights and its whole description (ddpm::io::ModelInfo) in one
// safetensors file. Loading needs nothing but the file; a reference PyTorch checkpoint
// (`.pt`, zip or legacy) is recognised by its first bytes and imported on the fly.
#include <torch/torch.h>

#include <map>
#include <string>

#include "ddpm/io/model_info.h"
#include "ddpm/schedule.h"
#include "ddpm/unet.h"

namespace ddpm {

struct Model {
  io::ModelInfo info;
  UNet unet{nullptr};
  NoiseSchedule schedule;
};

enum class WeightFormat { F32, F16 };  // F16 halves the file; loading converts back to float32

// Writes atomically: a temporary file in the same folder, flushed, then renamed over `path`.
void save_model(const std::string& path, UNet& unet, const io::ModelInfo& info,
                WeightFormat format = WeightFormat::F32);
// Throws ddpm::Error naming the file and the problem.
Model load_model(const std::string& path, torch::Device device = torch::kCPU);

// Builds a model from a description (fresh weights), validating it first.
Model make_model(const io::ModelInfo& info, torch::Device device = torch::kCPU);

// The parameters and buffers of a module by their state_dict names.
std::map<std::string, torch::Tensor> state_dict(const torch::nn::Module& module);
// Copies `tensors` into `module`: every name must exist with the same shape, and every
// parameter must be given. `prefix` is stripped from the names first; `file` is for messages.
void load_state_dict(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& tensors,
                     const std::string& file, const std::string& prefix = "");

}  // namespace ddpm
