#include "fused_attention.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>

// One build serves every x86-64 CPU: the kernel is compiled for AVX-512, AVX2 and baseline, and
// the loader picks the best the CPU has (GCC/Clang function multi-versioning).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DDPM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DDPM_CLONES
#endif
#define DDPM_INLINE inline __attribute__((always_inline))

namespace ddpm {
namespace {

// 16 floats: one lane per query of the block. GCC/Clang vector extensions, so the same source
// becomes one zmm register on AVX-512 and two ymm on AVX2.
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
constexpr int kLanes = 16;
// Keys per block: the block's scores (kKeys x 16 floats, 8 KB) stay in L1 between the three
// passes over them (scores, exponentials, values).
constexpr int kKeys = 128;

DDPM_INLINE vf splat(float x) { return vf{} + x; }
DDPM_INLINE vf vmax(vf a, vf b) { return a > b ? a : b; }

// 2^x for x <= 0 (the softmax only exponentiates score - running maximum). Below -126 the
// result is flushed towards 0 (< 1.2e-38, nothing next to the maximum's 1).
DDPM_INLINE vf exp2_nonpositive(vf x) {
  x = vmax(x, splat(-126.0f));
  // Adding 1.5 * 2^23 rounds to the nearest integer, which lands in the low mantissa bits.
  const vf shifter = splat(12582912.0f);
  const vf t = x + shifter;
  const vf n = t - shifter;
  const vf f = x - n;  // in [-0.5, 0.5]
  // 2^f = e^(f ln 2), Taylor to degree 6: relative error below 2e-7 on [-0.5, 0.5].
  const float l1 = 0.693147180559945f, l2 = 0.240226506959101f, l3 = 0.0555041086648216f,
              l4 = 0.00961812910762848f, l5 = 0.00133335581464284f, l6 = 0.000154035303933816f;
  vf p = splat(l6);
  p = p * f + l5;
  p = p * f + l4;
  p = p * f + l3;
  p = p * f + l2;
  p = p * f + l1;
  p = p * f + 1.0f;
  // Vector casts reinterpret the bits: t's low mantissa bits minus the shifter's are n.
  const vi bits = (((vi)t - (vi)shifter) + 127) << 23;
  return p * (vf)bits;
}

struct HeadView {
  const float* q;     // row i at q + i * stride
  const float* k;
  const float* v;
  float* out;         // row i at out + i * out_stride
  int64_t stride;
  int64_t out_stride;
  int64_t tokens;
};

// Queries i0 .. i0 + rows - 1 (rows <= 16) of one head against all keys. `scale` already holds
// log2(e), so the exponentials are powers of two.
template <int D>
DDPM_INLINE void attend(const HeadView& h, int64_t i0, int rows, float scale) {
  vf qt[D];  // qt[c][lane] = scaled q[i0 + lane][c]: the block transposed, lanes = queries
  for (int c = 0; c < D; ++c) qt[c] = vf{};
  for (int r = 0; r < rows; ++r) {
    const float* qi = h.q + (i0 + r) * h.stride;
    for (int c = 0; c < D; ++c) qt[c][r] = qi[c] * scale;
  }
  vf acc[D];  // acc[c][lane]: running sum of p * v for output channel c
  for (int c = 0; c < D; ++c) acc[c] = vf{};
  vf m = splat(-1e30f), l = vf{};
  alignas(64) vf s[kKeys];

  for (int64_t j0 = 0; j0 < h.tokens; j0 += kKeys) {
    const int nb = static_cast<int>(std::min<int64_t>(kKeys, h.tokens - j0));
    const float* kb = h.k + j0 * h.stride;
    int j = 0;
    // Eight keys at a time: eight independent accumulation chains hide the FMA latency.
    for (; j + 8 <= nb; j += 8) {
      vf a[8];
      for (int u = 0; u < 8; ++u) a[u] = vf{};
      for (int c = 0; c < D; ++c) {
        for (int u = 0; u < 8; ++u) a[u] += kb[(j + u) * h.stride + c] * qt[c];
      }
      for (int u = 0; u < 8; ++u) s[j + u] = a[u];
    }
    for (; j < nb; ++j) {
      vf a = vf{};
      for (int c = 0; c < D; ++c) a += kb[j * h.stride + c] * qt[c];
      s[j] = a;
    }

    vf bm = s[0];
    for (j = 1; j < nb; ++j) bm = vmax(bm, s[j]);
    const vf mn = vmax(m, bm);
    const vf alpha = exp2_nonpositive(m - mn);  // rescales what earlier blocks summed
    m = mn;
    // Each block sums from zero and is then added to the rescaled total: two short sums
    // instead of one of `tokens` terms keep the rounding near the library softmax's.
    vf lb = vf{};
    for (j = 0; j < nb; ++j) {
      s[j] = exp2_nonpositive(s[j] - m);
      lb += s[j];
    }
    l = l * alpha + lb;

    vf sum[D];
    for (int c = 0; c < D; ++c) sum[c] = vf{};
    const float* vb = h.v + j0 * h.stride;
    for (j = 0; j < nb; ++j) {
      const float* vj = vb + j * h.stride;
      const vf p = s[j];
      for (int c = 0; c < D; ++c) sum[c] += vj[c] * p;
    }
    for (int c = 0; c < D; ++c) acc[c] = acc[c] * alpha + sum[c];
  }

  const vf inv = 1.0f / l;
  for (int r = 0; r < rows; ++r) {
    float* o = h.out + (i0 + r) * h.out_stride;
    for (int c = 0; c < D; ++c) o[c] = acc[c][r] * inv[r];
  }
}

template <int D>
DDPM_CLONES void attend_range(const AttentionShape& s, const float* qkv, float* out, float scale,
                              int64_t begin, int64_t end) {
  const int64_t blocks = (s.tokens + kLanes - 1) / kLanes, C = s.channels;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t b = task / (s.heads * blocks), hd = task / blocks % s.heads, blk = task % blocks;
    const float* base = qkv + b * s.tokens * 3 * C + hd * D;
    const HeadView h{base, base + C, base + 2 * C, out + b * s.tokens * C + hd * D, 3 * C, C,
                     s.tokens};
    const int64_t i0 = blk * kLanes;
    attend<D>(h, i0, static_cast<int>(std::min<int64_t>(kLanes, s.tokens - i0)), scale);
  }
}

}  // namespace

bool fused_attention_supports(int64_t head_dim) {
  return head_dim == 8 || head_dim == 16 || head_dim == 32 || head_dim == 64;
}

void fused_attention(const AttentionShape& s, const float* qkv, float* out, float scale) {
  const int64_t tasks = s.batch * s.heads * ((s.tokens + kLanes - 1) / kLanes);
  const float scale2 = scale * 1.4426950408889634f;  // log2(e): exp(x) = 2^(x log2 e)
  const auto run = [&](auto kernel) {
    at::parallel_for(0, tasks, 1, [&](int64_t b, int64_t e) { kernel(s, qkv, out, scale2, b, e); });
  };
  switch (s.channels / s.heads) {
    case 8: return run(attend_range<8>);
    case 16: return run(attend_range<16>);
    case 32: return run(attend_range<32>);
    case 64: return run(attend_range<64>);
  }
}

}  // namespace ddpm
