#pragma once
// LibTorch tensors to and from the torch-free safetensors layer (ddpm/io/safetensors.h).
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "ddpm/io/safetensors.h"

namespace ddpm {

// A tensor ready to be written: contiguous, on the CPU, in the stored dtype.
struct TensorBytes {
  TensorBytes(std::string name, const torch::Tensor& value, torch::ScalarType stored_as);
  TensorBytes(std::string name, const torch::Tensor& value);  // keeps the dtype
  std::string name;
  torch::Tensor tensor;
};

std::vector<std::uint8_t> encode_tensors(const std::vector<TensorBytes>& tensors,
                                         const std::map<std::string, std::string>& metadata);

// Every tensor of a parsed file; F16 and BF16 come back as float32, others keep their type.
std::map<std::string, torch::Tensor> decode_tensors(const io::SafetensorsView& view,
                                                    const std::string& file);

torch::ScalarType to_scalar_type(io::DType dtype);  // throws for types torch lacks
io::DType to_dtype(torch::ScalarType type);

}  // namespace ddpm
