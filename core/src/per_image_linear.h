#pragma once
// A linear layer applied to each image of a batch on its own ([B, ...] in, one BLAS product per
// image): an image's result then does not depend on the batch it came in. BLAS kernels sum a
// row's products in an order that depends on the product's row count (OpenBLAS 0.3.21 runs its
// Haswell kernels on AMD Zen 5, where a row of a 1-row product differs from the same row of a
// 2-row one by ~1e-6, and a 64-row one from a 128-row one), and bf16 convolutions round such
// differences up to a bfloat16 step: the same seed gave another image in a stream, or on
// another thread count, by up to 0.05 (tests plugin.threads and plugin.stream, which check
// 1e-4). With autograd on (training) one product for the batch stays: speed matters there,
// not batch invariance.
#include <torch/torch.h>

#include <vector>

namespace ddpm {

inline torch::Tensor per_image_linear(const torch::Tensor& x, const torch::Tensor& weight,
                                      const torch::Tensor& bias) {
  const int64_t images = x.size(0);
  if (images == 1 || torch::GradMode::is_enabled()) return torch::linear(x, weight, bias);
  std::vector<torch::Tensor> parts;
  parts.reserve(static_cast<size_t>(images));
  for (int64_t i = 0; i < images; ++i) parts.push_back(torch::linear(x.narrow(0, i, 1), weight, bias));
  return torch::cat(parts, 0);
}

inline torch::Tensor per_image_linear(const torch::nn::Linear& lin, const torch::Tensor& x) {
  return per_image_linear(x, lin->weight, lin->bias);
}

}  // namespace ddpm
