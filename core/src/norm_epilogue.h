#pragma once
// A GroupNorm and what the UNet's blocks do right after it, as one pass for CPU inference.
#include <torch/torch.h>

namespace ddpm {

// What follows the normalisation (with the GroupNorm's own affine), in this order:
//   y = y * (1 + scale) + shift   (scale, shift: [B, C] per image and channel, each optional)
//   y = y + residual              (optional, the normalised input's shape)
//   y = gelu(y)                   (exact GELU, if asked)
struct NormEpilogue {
  torch::Tensor scale, shift, residual;
  bool gelu = false;
  bool bf16_out = false;  // the result in bfloat16 (the next bf16 convolution's input)
};

// GroupNorm(x) followed by `e`; `x` is float, or bfloat16 (a bf16 convolution's output). For
// CPU tensors without gradients this is one kernel
// (two reads and a write of the map instead of up to four separate operations: at 8x8 and
// below the per-operation cost was most of the time, tests/bench/NOTES.md), equal to the
// separate operations to within float rounding (~1e-6 relative), the same for an image alone
// or in any batch, and on any number of threads. With gradients on channels-last CPU maps of a
// multiple of 16 channels (training) it is the same forward with a backward pass of its own
// (norm_epilogue_backward.cpp; bf16_out honoured there too). Otherwise (training on plain maps,
// float64 reference copies, CUDA) it runs LibTorch's operations, as the blocks always did.
torch::Tensor norm_epilogue(const torch::Tensor& x, torch::nn::GroupNorm& norm, const NormEpilogue& e);

// The fused kernel alone, without the fallback (for tests: it throws where it does not apply).
torch::Tensor fused_norm_epilogue(const torch::Tensor& x, torch::nn::GroupNorm& norm, const NormEpilogue& e);

}  // namespace ddpm
