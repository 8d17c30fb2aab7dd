#pragma once
// What the fused attention kernels (forward and backward) share: 16-float vectors, the power of
// two that replaces exp(), function multi-versioning, and how a task finds its head's rows.
#include <cstdint>

// One build serves every x86-64 CPU: each kernel is compiled for AVX-512, AVX2 and baseline,
// and the loader picks the best the CPU has (GCC/Clang function multi-versioning).
// (-DDDPM_CLONES= builds one version for whatever -march says: how the other versions were
// checked on an AVX-512 machine.)
#if defined(DDPM_CLONES)
#elif defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DDPM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DDPM_CLONES
#endif
#define DDPM_INLINE inline __attribute__((always_inline))

namespace ddpm::simd {

// 16 floats, one lane per query (or key) of a block. GCC/Clang vector extensions, so the same
// source becomes one zmm register on AVX-512 and two ymm on AVX2.
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
constexpr int kLanes = 16;
// Rows streamed past the lanes per block: their scores (128 x 16 floats, 8 KB) stay in L1
// between the passes over them.
constexpr int kBlock = 128;

DDPM_INLINE vf splat(float x) { return vf{} + x; }
DDPM_INLINE vf vmax(vf a, vf b) { return a > b ? a : b; }

// 2^x for x <= 0 or slightly above (softmax exponents: score minus a maximum or a log-sum).
// Below -126 the result is flushed towards 0 (< 1.2e-38, nothing next to the maximum's 1).
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

// Loads rows r0 .. r0 + rows - 1 of a [tokens, D] view (row stride `stride`) transposed:
// out[c][lane] = row[r0 + lane][c] * scale, zero in lanes past `rows`.
template <int D>
DDPM_INLINE void load_transposed(vf (&out)[D], const float* base, int64_t stride, int64_t r0,
                                 int rows, float scale) {
  for (int c = 0; c < D; ++c) out[c] = vf{};
  for (int r = 0; r < rows; ++r) {
    const float* row = base + (r0 + r) * stride;
    for (int c = 0; c < D; ++c) out[c][r] = row[c] * scale;
  }
}

// The inverse: row[r0 + lane][c] = in[c][lane] * scale for lanes below `rows`.
template <int D>
DDPM_INLINE void store_transposed(const vf (&in)[D], float* base, int64_t stride, int64_t r0,
                                  int rows, float scale) {
  for (int r = 0; r < rows; ++r) {
    float* row = base + (r0 + r) * stride;
    for (int c = 0; c < D; ++c) row[c] = in[c][r] * scale;
  }
}

// out[j] = sum_c row_j[c] * lanes[c] for rows j < n of a [*, D] view (row stride `stride`):
// dot products of rows streamed from memory with the lanes held in registers. Eight rows at a
// time: eight independent accumulation chains hide the FMA latency.
template <int D>
DDPM_INLINE void dot_rows(vf* out, const float* rows, int64_t stride, int n, const vf (&lanes)[D]) {
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    vf a[8];
    for (int u = 0; u < 8; ++u) a[u] = vf{};
    for (int c = 0; c < D; ++c) {
      for (int u = 0; u < 8; ++u) a[u] += rows[(j + u) * stride + c] * lanes[c];
    }
    for (int u = 0; u < 8; ++u) out[j + u] = a[u];
  }
  for (; j < n; ++j) {
    vf a = vf{};
    for (int c = 0; c < D; ++c) a += rows[j * stride + c] * lanes[c];
    out[j] = a;
  }
}

// acc[c] += sum_j row_j[c] * w[j] for rows j < n: the other product, rows weighted per lane.
// The block's sum starts from zero and is added at the end: short sums keep the rounding of a
// sum over thousands of rows near the library's blocked products.
template <int D>
DDPM_INLINE void accumulate_rows(vf (&acc)[D], const float* rows, int64_t stride, int n,
                                 const vf* w) {
  vf sum[D];
  for (int c = 0; c < D; ++c) sum[c] = vf{};
  for (int j = 0; j < n; ++j) {
    const float* row = rows + j * stride;
    const vf wj = w[j];
    for (int c = 0; c < D; ++c) sum[c] += row[c] * wj;
  }
  for (int c = 0; c < D; ++c) acc[c] += sum[c];
}

}  // namespace ddpm::simd
