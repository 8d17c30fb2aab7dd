#pragma once
// What the fused GroupNorm's forward (norm_epilogue_kernel.cpp) and backward
// (norm_epilogue_backward.cpp) kernels share: loads and stores of float and bfloat16 vectors,
// the exact GELU with its derivative, and the per-channel affine of the normalised input.
#include <cstdint>
#include <cstring>
#include <utility>

#include "fused_attention_simd.h"
#include "norm_epilogue_kernel.h"

namespace ddpm {
namespace {

using simd::kLanes;
using simd::splat;
using simd::vf;

typedef uint16_t vh __attribute__((vector_size(32)));  // 16 bfloat16 values
typedef uint32_t vu __attribute__((vector_size(64)));  // their float bit patterns

DDPM_INLINE vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// bfloat16 is the high half of a float: widening is a shift.
DDPM_INLINE vf load(const uint16_t* p) {
  vh h;
  std::memcpy(&h, p, sizeof h);
  return (vf)(__builtin_convertvector(h, vu) << 16);
}
DDPM_INLINE void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
// Round to nearest even, as LibTorch's conversion does (no NaN reaches here: a NaN norm input
// would already have made the whole map NaN through its statistics).
DDPM_INLINE void store(uint16_t* p, vf v) {
  const vu bits = (vu)v;
  const vu rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  const vh h = __builtin_convertvector(rounded, vh);
  std::memcpy(p, &h, sizeof h);
}
DDPM_INLINE vf vabs(vf x) { return x < 0 ? -x : x; }

// The standard normal CDF Phi(x) and exp(-x^2 / 2), with erfc from Abramowitz & Stegun 7.1.26
// (absolute error below 1.5e-7) and exp through the attention kernels' 2^x. Phi of a negative
// x is 0.5 * erfc(|x| / sqrt 2) itself, not 1 minus a number near 1.
struct NormalCdf {
  vf cdf, gauss;  // Phi(x), exp(-x^2 / 2)
};
DDPM_INLINE NormalCdf normal_cdf(vf x) {
  const vf a = vabs(x) * 0.70710678118654752f;
  const vf t = 1.0f / (1.0f + 0.3275911f * a);
  vf p = splat(1.061405429f);
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const vf gauss = simd::exp2_nonpositive(-(a * a) * 1.4426950408889634f);
  const vf half_erfc = 0.5f * p * t * gauss;
  return {x < 0 ? half_erfc : 1.0f - half_erfc, gauss};
}

// x * Phi(x).
DDPM_INLINE vf gelu(vf x) { return x * normal_cdf(x).cdf; }

// d gelu(x) / dx = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
DDPM_INLINE vf gelu_derivative(vf x) {
  const NormalCdf n = normal_cdf(x);
  return n.cdf + x * n.gauss * 0.3989422804014327f;
}

// Channel c of image-channel bc normalised and put through the epilogue's scale and shift as
// one x * a + shift: {a, shift}.
DDPM_INLINE std::pair<float, float> channel_affine(const NormOperands& o, int64_t c, int64_t bc, double mean,
                                                   double rstd) {
  double a = rstd * o.gamma[c], shift = o.beta[c] - mean * a;
  if (o.scale) {
    a *= 1.0 + o.scale[bc];
    shift *= 1.0 + o.scale[bc];
  }
  if (o.shift) shift += o.shift[bc];
  return {static_cast<float>(a), static_cast<float>(shift)};
}

}  // namespace
}  // namespace ddpm
