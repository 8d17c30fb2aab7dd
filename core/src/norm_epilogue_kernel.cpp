#include "norm_epilogue_kernel.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
#include <utility>
#include <vector>

#include "norm_epilogue_simd.h"

namespace ddpm {
namespace {

typedef double vd __attribute__((vector_size(64)));  // 8 doubles

// Sum of the values (or of their squared deviations from `m`) of `channels` maps of n values
// each (n a multiple of kLanes): each map's values in float lanes (256 adds a lane at 64x64),
// each map's lanes then into double lanes, so the sum of a whole group keeps double precision
// at the cost of one horizontal sum a group (per map, that sum was most of a 4x4 map's time).
template <bool kDeviations, typename T>
DDPM_INLINE double group_sum(const T* x, int64_t channels, int64_t n, float m) {
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

// 1 / sqrt(variance + eps) of a group from the sum of its squared deviations from the
// float-rounded mean: sum (x - mf)^2 = sum (x - mean)^2 + count (mean - mf)^2.
DDPM_INLINE double group_rstd(double deviations, double count, double mean, double eps) {
  const double off = mean - static_cast<double>(static_cast<float>(mean));
  const double var = std::max(deviations / count - off * off, 0.0);
  return 1.0 / std::sqrt(var + eps);
}

// Normalises one image's group of `channels` channels from c0: mean and variance in two
// passes (the second over deviations from the first's mean, so no cancellation), then one
// pass of x * a + b per channel with the epilogue. In and Out: float or uint16_t (bfloat16).
template <typename In, typename Out>
DDPM_INLINE void normalize_group(const NormOperands& o, int64_t b, int64_t c0, int64_t channels) {
  const int64_t n = o.HW, first = b * o.C + c0;
  const In* x = static_cast<const In*>(o.x) + first * n;
  const double count = static_cast<double>(channels * n);
  const double mean = group_sum<false>(x, channels, n, 0.0f) / count;
  const double rstd = group_rstd(group_sum<true>(x, channels, n, static_cast<float>(mean)), count, mean, o.eps);
  for (int64_t c = 0; c < channels; ++c) {
    const int64_t bc = first + c;
    const auto [a, shift] = channel_affine(o, c0 + c, bc, mean, rstd);
    const vf va = splat(a), vb = splat(shift);
    const In* xc = static_cast<const In*>(o.x) + bc * n;
    const float* rc = o.residual ? o.residual + bc * n : nullptr;
    Out* yc = static_cast<Out*>(o.out) + bc * n;
    for (int64_t i = 0; i < n; i += kLanes) {
      vf y = load(xc + i) * va + vb;
      if (rc) y += load(rc + i);
      store(yc + i, o.gelu ? gelu(y) : y);
    }
  }
}

DDPM_CLONES void normalize_group_tasks(const NormOperands& o, int64_t G, int64_t Cg, int64_t begin, int64_t end) {
  for (int64_t task = begin; task < end; ++task) {
    const int64_t b = task / G, c0 = (task % G) * Cg;
    if (o.x_bf16 && o.out_bf16) {
      normalize_group<uint16_t, uint16_t>(o, b, c0, Cg);
    } else if (o.x_bf16) {
      normalize_group<uint16_t, float>(o, b, c0, Cg);
    } else if (o.out_bf16) {
      normalize_group<float, uint16_t>(o, b, c0, Cg);
    } else {
      normalize_group<float, float>(o, b, c0, Cg);
    }
  }
}

// Channels-last maps ([B, HW, C], C a multiple of kLanes): an image's channels are interleaved,
// so the statistics are summed per channel over chunks of pixels (float within a chunk, as the
// plain kernel sums a map's lanes), then per group in double over the chunks in a fixed order:
// a task is an image's chunk, and an image's numbers do not depend on the batch or the threads.
constexpr int64_t kChunk = 64;

// Per-channel sums over pixels [p0, p1) of one image (or of squared deviations from `mean`, a
// value per channel) into sums[C].
template <bool kDeviations, typename T>
DDPM_INLINE void chunk_sums(const T* x, int64_t C, int64_t p0, int64_t p1, const float* mean, float* sums) {
  for (int64_t c = 0; c < C; c += kLanes) {
    vf s{};
    const vf m = kDeviations ? load(mean + c) : splat(0.0f);
    for (int64_t p = p0; p < p1; ++p) {
      const vf v = load(x + p * C + c);
      if constexpr (kDeviations) {
        const vf d = v - m;
        s += d * d;
      } else {
        s += v;
      }
    }
    store(sums + c, s);
  }
}

template <bool kDeviations>
DDPM_CLONES void chunk_sum_tasks(const NormOperands& o, int64_t chunks, const float* mean, float* sums,
                                 int64_t begin, int64_t end) {
  for (int64_t task = begin; task < end; ++task) {
    const int64_t b = task / chunks, p0 = (task % chunks) * kChunk, p1 = std::min(o.HW, p0 + kChunk);
    const float* m = kDeviations ? mean + b * o.C : nullptr;
    float* out = sums + task * o.C;
    if (o.x_bf16) chunk_sums<kDeviations>(static_cast<const uint16_t*>(o.x) + b * o.HW * o.C, o.C, p0, p1, m, out);
    else chunk_sums<kDeviations>(static_cast<const float*>(o.x) + b * o.HW * o.C, o.C, p0, p1, m, out);
  }
}

template <typename In, typename Out>
DDPM_INLINE void normalize_chunk(const NormOperands& o, int64_t b, int64_t p0, int64_t p1, const float* a,
                                 const float* shift) {
  const int64_t C = o.C, first = b * o.HW * C;
  for (int64_t p = p0; p < p1; ++p) {
    const In* xp = static_cast<const In*>(o.x) + first + p * C;
    const float* rp = o.residual ? o.residual + first + p * C : nullptr;
    Out* yp = static_cast<Out*>(o.out) + first + p * C;
    for (int64_t c = 0; c < C; c += kLanes) {
      vf y = load(xp + c) * load(a + c) + load(shift + c);
      if (rp) y += load(rp + c);
      store(yp + c, o.gelu ? gelu(y) : y);
    }
  }
}

DDPM_CLONES void normalize_chunk_tasks(const NormOperands& o, int64_t chunks, const float* a, const float* shift,
                                       int64_t begin, int64_t end) {
  for (int64_t task = begin; task < end; ++task) {
    const int64_t b = task / chunks, p0 = (task % chunks) * kChunk, p1 = std::min(o.HW, p0 + kChunk);
    const float *ab = a + b * o.C, *sb = shift + b * o.C;
    if (o.x_bf16 && o.out_bf16) normalize_chunk<uint16_t, uint16_t>(o, b, p0, p1, ab, sb);
    else if (o.x_bf16) normalize_chunk<uint16_t, float>(o, b, p0, p1, ab, sb);
    else if (o.out_bf16) normalize_chunk<float, uint16_t>(o, b, p0, p1, ab, sb);
    else normalize_chunk<float, float>(o, b, p0, p1, ab, sb);
  }
}

void normalize_groups_channels_last(const NormOperands& o, int64_t B, int64_t G, int64_t Cg) {
  const int64_t C = o.C, chunks = (o.HW + kChunk - 1) / kChunk, tasks = B * chunks;
  const int64_t grain = std::max<int64_t>(1, 65536 / (kChunk * C));
  std::vector<float> sums(static_cast<size_t>(tasks * C)), mean(static_cast<size_t>(B * C));
  std::vector<double> group_mean(static_cast<size_t>(B * G));
  // Per image and group, the chunks' per-channel sums in double, chunk by chunk.
  const auto group_totals = [&](int64_t b, int64_t g) {
    double t = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      const float* s = sums.data() + ((b * chunks + k) * C + g * Cg);
      for (int64_t c = 0; c < Cg; ++c) t += s[c];
    }
    return t;
  };
  const double count = static_cast<double>(Cg * o.HW);
  at::parallel_for(0, tasks, grain, [&](int64_t s, int64_t e) { chunk_sum_tasks<false>(o, chunks, nullptr, sums.data(), s, e); });
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t g = 0; g < G; ++g) {
      const double m = group_totals(b, g) / count;
      group_mean[b * G + g] = m;
      std::fill_n(mean.data() + b * C + g * Cg, Cg, static_cast<float>(m));
    }
  }
  at::parallel_for(0, tasks, grain, [&](int64_t s, int64_t e) { chunk_sum_tasks<true>(o, chunks, mean.data(), sums.data(), s, e); });
  std::vector<float> a(static_cast<size_t>(B * C)), shift(static_cast<size_t>(B * C));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t g = 0; g < G; ++g) {
      const double m = group_mean[b * G + g], rstd = group_rstd(group_totals(b, g), count, m, o.eps);
      if (o.mean_out) o.mean_out[b * G + g] = static_cast<float>(m);
      if (o.rstd_out) o.rstd_out[b * G + g] = static_cast<float>(rstd);
      for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c) {
        const int64_t bc = b * C + c;
        std::tie(a[bc], shift[bc]) = channel_affine(o, c, bc, m, rstd);
      }
    }
  }
  at::parallel_for(0, tasks, grain,
                   [&](int64_t s, int64_t e) { normalize_chunk_tasks(o, chunks, a.data(), shift.data(), s, e); });
}

}  // namespace

void normalize_groups(const NormOperands& o, int64_t B, int64_t G, int64_t Cg) {
  if (o.channels_last) return normalize_groups_channels_last(o, B, G, Cg);
  // One task per image and group: its statistics are summed in one fixed order, so an image
  // gets the same numbers alone, in a batch, or on any number of threads.
  const int64_t grain = std::max<int64_t>(1, 65536 / (Cg * o.HW));
  at::parallel_for(0, B * G, grain, [&](int64_t begin, int64_t end) { normalize_group_tasks(o, G, Cg, begin, end); });
}

}  // namespace ddpm
