#include "fused_attention.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "fused_attention_simd.h"

namespace ddpm {
namespace {
using namespace simd;

struct HeadView {
  const float* q;  // row i at q + i * stride
  const float* k;
  const float* v;
  float* out;      // row i at out + i * out_stride
  float* lse;      // query i's at lse[i * heads], or null
  int64_t stride;
  int64_t out_stride;
  int64_t heads;
  int64_t tokens;
};

// Queries i0 .. i0 + rows - 1 (rows <= 16) of one head against all keys. `scale` already holds
// log2(e), so the exponentials are powers of two.
template <int D>
DDPM_INLINE void attend(const HeadView& h, int64_t i0, int rows, float scale) {
  vf qt[D];  // qt[c][lane] = scaled q[i0 + lane][c]: the block transposed, lanes = queries
  load_transposed<D>(qt, h.q, h.stride, i0, rows, scale);
  vf acc[D];  // acc[c][lane]: running sum of p * v for output channel c
  for (int c = 0; c < D; ++c) acc[c] = vf{};
  vf m = splat(-1e30f), l = vf{};
  alignas(64) vf s[kBlock];

  for (int64_t j0 = 0; j0 < h.tokens; j0 += kBlock) {
    const int nb = static_cast<int>(std::min<int64_t>(kBlock, h.tokens - j0));
    dot_rows<D>(s, h.k + j0 * h.stride, h.stride, nb, qt);
    vf bm = s[0];
    for (int j = 1; j < nb; ++j) bm = vmax(bm, s[j]);
    const vf mn = vmax(m, bm);
    const vf alpha = exp2_nonpositive(m - mn);  // rescales what earlier blocks summed
    m = mn;
    // The block's sum starts from zero and is added to the rescaled total (see accumulate_rows).
    vf lb = vf{};
    for (int j = 0; j < nb; ++j) {
      s[j] = exp2_nonpositive(s[j] - m);
      lb += s[j];
    }
    l = l * alpha + lb;
    for (int c = 0; c < D; ++c) acc[c] *= alpha;
    accumulate_rows<D>(acc, h.v + j0 * h.stride, h.stride, nb, s);
  }

  const vf inv = 1.0f / l;
  for (int c = 0; c < D; ++c) acc[c] *= inv;
  store_transposed<D>(acc, h.out, h.out_stride, i0, rows, 1.0f);
  if (h.lse) {
    for (int r = 0; r < rows; ++r) h.lse[(i0 + r) * h.heads] = m[r] + std::log2(l[r]);
  }
}

template <int D>
DDPM_INLINE void attend_tasks(const AttentionShape& s, const float* qkv, float* out, float* lse,
                              float scale, int64_t begin, int64_t end) {
  const int64_t blocks = (s.tokens + kLanes - 1) / kLanes, C = s.channels;
  for (int64_t task = begin; task < end; ++task) {
    const int64_t b = task / (s.heads * blocks), hd = task / blocks % s.heads, blk = task % blocks;
    const float* base = qkv + b * s.tokens * 3 * C + hd * D;
    const HeadView h{base, base + C, base + 2 * C, out + b * s.tokens * C + hd * D,
                     lse ? lse + b * s.tokens * s.heads + hd : nullptr, 3 * C, C, s.heads,
                     s.tokens};
    const int64_t i0 = blk * kLanes;
    attend<D>(h, i0, static_cast<int>(std::min<int64_t>(kLanes, s.tokens - i0)), scale);
  }
}

// The multi-versioned entry (Clang cannot multi-version templates): one switch over the head
// width, each case inlined into every CPU's version.
DDPM_CLONES void attend_range(const AttentionShape& s, const float* qkv, float* out, float* lse,
                              float scale, int64_t begin, int64_t end) {
  switch (s.channels / s.heads) {
    case 8: return attend_tasks<8>(s, qkv, out, lse, scale, begin, end);
    case 16: return attend_tasks<16>(s, qkv, out, lse, scale, begin, end);
    case 32: return attend_tasks<32>(s, qkv, out, lse, scale, begin, end);
    case 64: return attend_tasks<64>(s, qkv, out, lse, scale, begin, end);
  }
}

}  // namespace

bool fused_attention_supports(int64_t head_dim) {
  return head_dim == 8 || head_dim == 16 || head_dim == 32 || head_dim == 64;
}

void fused_attention(const AttentionShape& s, const float* qkv, float* out, float scale, float* lse) {
  const int64_t tasks = s.batch * s.heads * ((s.tokens + kLanes - 1) / kLanes);
  const float scale2 = scale * 1.4426950408889634f;  // log2(e): exp(x) = 2^(x log2 e)
  at::parallel_for(0, tasks, 1, [&](int64_t b, int64_t e) { attend_range(s, qkv, out, lse, scale2, b, e); });
}

}  // namespace ddpm
