#pragma once
// The fused GroupNorm's kernel (norm_epilogue.h): raw float maps, no torch header, so that it
// compiles with the vector and OpenMP options of the attention kernels.
#include <cstdint>

namespace ddpm {

// A contiguous [B, C, HW] map (or [B, HW, C] with channels_last) (HW a multiple of 16) of float, or of bfloat16 when x_bf16 (a
// bf16 convolution's output), the norm's per-channel gamma and beta, and the epilogue's parts
// (float, null where absent): residual [B, C, HW], scale and shift [B, C]; `out` is [B, C, HW]
// of float, or of bfloat16 (rounded to nearest even) when out_bf16 (the next bf16
// convolution's input). Statistics and arithmetic are float/double either way.
struct NormOperands {
  const void* x;
  const float *residual, *gamma, *beta, *scale, *shift;
  void* out;
  int64_t C, HW;
  double eps;
  bool gelu, x_bf16, out_bf16;
  bool channels_last = false;  // x, residual and out are [B, HW, C] (C a multiple of 16)
  // Where given (channels-last only): each image's group mean and 1 / sqrt(var + eps), [B, G],
  // for the backward pass.
  float *mean_out = nullptr, *rstd_out = nullptr;
};

// Normalises groups [0, B * G) of `o` (G groups of Cg channels an image) on the calling
// thread's OpenMP team.
void normalize_groups(const NormOperands& o, int64_t B, int64_t G, int64_t Cg);

// The backward pass of a channels-last forward of the operands above (x float or bfloat16),
// given dout (the gradient of `out`, [B, HW, C], float or bfloat16) and the forward's mean and
// rstd. Writes dx [B, HW, C] (x's type); dpre [B, HW, C] (float: the gradient of the GELU's input,
// which is the residual's) when the forward had the GELU; where not null, dgamma and dbeta [C]
// (summed over the batch in a fixed order), dscale and dshift [B, C].
struct NormGradients {
  const void* dout;
  bool dout_bf16;
  const float *mean, *rstd;
  void* dx;
  float *dpre, *dgamma, *dbeta, *dscale, *dshift;
};
void normalize_groups_backward(const NormOperands& o, const NormGradients& g, int64_t B, int64_t G, int64_t Cg);

}  // namespace ddpm
