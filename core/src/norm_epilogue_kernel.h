#pragma once
// The fused GroupNorm's kernel (norm_epilogue.h): raw float maps, no torch header, so that it
// compiles with the vector and OpenMP options of the attention kernels.
#include <cstdint>

namespace ddpm {

// A contiguous [B, C, HW] float map (HW a multiple of 16), the norm's per-channel gamma and
// beta, and the epilogue's parts (null where absent): residual [B, C, HW], scale and shift
// [B, C]; `out` is [B, C, HW].
struct NormOperands {
  const float *x, *residual, *gamma, *beta, *scale, *shift;
  float* out;
  int64_t C, HW;
  double eps;
  bool gelu;
};

// Normalises groups [0, B * G) of `o` (G groups of Cg channels an image) on the calling
// thread's OpenMP team.
void normalize_groups(const NormOperands& o, int64_t B, int64_t G, int64_t Cg);

}  // namespace ddpm
