#include "norm_epilogue_kernel.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "fused_attention_simd.h"

namespace ddpm {
namespace {

using simd::kLanes;
using simd::splat;
using simd::vf;

DDPM_INLINE vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
DDPM_INLINE void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
DDPM_INLINE vf vabs(vf x) { return x < 0 ? -x : x; }

// x * Phi(x), Phi the standard normal CDF, with erfc from Abramowitz & Stegun 7.1.26 (absolute
// error below 1.5e-7) and exp through the attention kernels' 2^x. Phi of a negative x is
// 0.5 * erfc(|x| / sqrt 2) itself, not 1 minus a number near 1.
DDPM_INLINE vf gelu(vf x) {
  const vf a = vabs(x) * 0.70710678118654752f;
  const vf t = 1.0f / (1.0f + 0.3275911f * a);
  vf p = splat(1.061405429f);
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const vf half_erfc = 0.5f * p * t * simd::exp2_nonpositive(-(a * a) * 1.4426950408889634f);
  return x * (x < 0 ? half_erfc : 1.0f - half_erfc);
}

typedef double vd __attribute__((vector_size(64)));  // 8 doubles

// Sum of the values (or of their squared deviations from `m`) of `channels` maps of n values
// each (n a multiple of kLanes): each map's values in float lanes (256 adds a lane at 64x64),
// each map's lanes then into double lanes, so the sum of a whole group keeps double precision
// at the cost of one horizontal sum a group (per map, that sum was most of a 4x4 map's time).
template <bool kDeviations>
DDPM_INLINE double group_sum(const float* x, int64_t channels, int64_t n, float m) {
  typedef float vf8 __attribute__((vector_size(32)));
  vd acc_lo{}, acc_hi{};
  const vf vm = splat(m);
  for (int64_t c = 0; c < channels; ++c, x += n) {
    vf s{};
    for (int64_t i = 0; i < n; i += kLanes) {
      const vf v = load(x + i);
      if constexpr (kDeviations) {
        const vf d = v - vm;
        s += d * d;
      } else {
        s += v;
      }
    }
    vf8 lo, hi;
    std::memcpy(&lo, &s, sizeof lo);
    std::memcpy(&hi, reinterpret_cast<const char*>(&s) + sizeof lo, sizeof hi);
    acc_lo += __builtin_convertvector(lo, vd);
    acc_hi += __builtin_convertvector(hi, vd);
  }
  const vd acc = acc_lo + acc_hi;
  double sum = 0;
  for (int l = 0; l < 8; ++l) sum += acc[l];
  return sum;
}

// Normalises one image's group of `channels` channels from c0: mean and variance in two
// passes (the second over deviations from the first's mean, so no cancellation), then one
// pass of x * a + b per channel with the epilogue.
DDPM_CLONES void normalize_group(const NormOperands& o, int64_t b, int64_t c0, int64_t channels) {
  const int64_t n = o.HW, first = b * o.C + c0;
  const float* x = o.x + first * n;
  const double count = static_cast<double>(channels * n);
  const double mean = group_sum<false>(x, channels, n, 0.0f) / count;
  const float mf = static_cast<float>(mean);
  // Deviations from the float-rounded mean: sum (x - mf)^2 = sum (x - mean)^2 + count (mean - mf)^2.
  const double off = mean - static_cast<double>(mf);
  const double var = std::max(group_sum<true>(x, channels, n, mf) / count - off * off, 0.0);
  const double rstd = 1.0 / std::sqrt(var + o.eps);
  for (int64_t c = 0; c < channels; ++c) {
    const int64_t bc = first + c;
    double a = rstd * o.gamma[c0 + c], shift = o.beta[c0 + c] - mean * a;
    if (o.scale) {
      a *= 1.0 + o.scale[bc];
      shift *= 1.0 + o.scale[bc];
    }
    if (o.shift) shift += o.shift[bc];
    const vf va = splat(static_cast<float>(a)), vb = splat(static_cast<float>(shift));
    const float* xc = o.x + bc * n;
    const float* rc = o.residual ? o.residual + bc * n : nullptr;
    float* yc = o.out + bc * n;
    for (int64_t i = 0; i < n; i += kLanes) {
      vf y = load(xc + i) * va + vb;
      if (rc) y += load(rc + i);
      store(yc + i, o.gelu ? gelu(y) : y);
    }
  }
}

}  // namespace

void normalize_groups(const NormOperands& o, int64_t B, int64_t G, int64_t Cg) {
  // One task per image and group: its statistics are summed in one fixed order, so an image
  // gets the same numbers alone, in a batch, or on any number of threads.
  const int64_t grain = std::max<int64_t>(1, 65536 / (Cg * o.HW));
  at::parallel_for(0, B * G, grain, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) normalize_group(o, task / G, (task % G) * Cg, Cg);
  });
}

}  // namespace ddpm
