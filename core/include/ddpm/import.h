#pragma once
// Import of the reference implementation's checkpoints (`torch.save(model.state_dict())` of
// its UNet or UNet_conditional) without Python: the torch-free reader in ddpm/io parses the
// zip (or legacy) file with a restricted unpickler, and the names map 1:1 onto the seed64
// layout. The base width, channels, time dimension and class count are read from the shapes.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "ddpm/model_file.h"

namespace ddpm {

struct ImportOptions {
  std::vector<std::string> class_names;  // empty: class_0 .. class_{n-1}
  int image_size = 64;                   // the reference trains at 64x64
};

// True for the first bytes of a zip archive or of a legacy (pickle) PyTorch file.
bool looks_like_torch_checkpoint(const std::vector<std::uint8_t>& bytes);

Model import_reference_checkpoint(const std::vector<std::uint8_t>& bytes, const std::string& name,
                                  const ImportOptions& options, torch::Device device = torch::kCPU);
Model import_reference_checkpoint(const std::string& path, const ImportOptions& options,
                                  torch::Device device = torch::kCPU);

// The `import` entry point: reads a reference `.pt` and writes a model file.
io::ModelInfo import_to_model_file(const std::string& pt_path, const std::string& out_path,
                                   const ImportOptions& options,
                                   WeightFormat format = WeightFormat::F32);

}  // namespace ddpm
