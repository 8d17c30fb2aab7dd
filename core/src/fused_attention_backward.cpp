// The gradient of fused_attention, FlashAttention-2 style on the CPU: the probabilities are
// recomputed block by block from the saved log-sum-exp instead of being kept, in two passes so
// that no two threads ever add into the same row: one over query blocks (lanes = queries)
// writes dq, one over key blocks (lanes = keys) writes dk and dv.
//   p_ij = 2^(s_ij - lse_i) with s_ij = q_i . k_j * scale * log2 e
//   dp_ij = dout_i . v_j,   ds_ij = p_ij (dp_ij - delta_i),   delta_i = dout_i . out_i
//   dq_i = scale sum_j ds_ij k_j,   dk_j = scale sum_i ds_ij q_i,   dv_j = sum_i p_ij dout_i
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "fused_attention.h"
#include "fused_attention_simd.h"

namespace ddpm {
namespace {
using namespace simd;

struct HeadGrad {
  const float* q;      // rows at stride `stride` (the packed qkv), like k, v and the gradients
  const float* k;
  const float* v;
  const float* dout;   // rows at stride `dout_stride`
  const float* lse;    // query i's at [i * heads], like delta
  const float* delta;
  float* dq;
  float* dk;
  float* dv;
  int64_t stride;
  int64_t dout_stride;
  int64_t heads;
  int64_t tokens;
};

// A vector of one per-query value (lse or delta) for queries i0 .. i0 + rows - 1.
DDPM_INLINE vf load_per_query(const float* values, int64_t heads, int64_t i0, int rows) {
  vf out = vf{};
  for (int r = 0; r < rows; ++r) out[r] = values[(i0 + r) * heads];
  return out;
}

// dq for queries i0 .. i0 + rows - 1: the keys stream past.
template <int D>
DDPM_INLINE void grad_queries(const HeadGrad& h, int64_t i0, int rows, float scale2, float scale) {
  vf qt[D], dot[D];
  load_transposed<D>(qt, h.q, h.stride, i0, rows, scale2);
  load_transposed<D>(dot, h.dout, h.dout_stride, i0, rows, 1.0f);
  // Lanes past `rows` hold zeros: p = 1, dp = 0, delta = 0, so ds = 0 and nothing spreads.
  const vf lse = load_per_query(h.lse, h.heads, i0, rows);
  const vf delta = load_per_query(h.delta, h.heads, i0, rows);
  vf dq[D];
  for (int c = 0; c < D; ++c) dq[c] = vf{};
  alignas(64) vf p[kBlock], ds[kBlock];
  for (int64_t j0 = 0; j0 < h.tokens; j0 += kBlock) {
    const int nb = static_cast<int>(std::min<int64_t>(kBlock, h.tokens - j0));
    dot_rows<D>(p, h.k + j0 * h.stride, h.stride, nb, qt);
    dot_rows<D>(ds, h.v + j0 * h.stride, h.stride, nb, dot);
    for (int j = 0; j < nb; ++j) {
      p[j] = exp2_nonpositive(p[j] - lse);
      ds[j] = p[j] * (ds[j] - delta);
    }
    accumulate_rows<D>(dq, h.k + j0 * h.stride, h.stride, nb, ds);
  }
  store_transposed<D>(dq, h.dq, h.stride, i0, rows, scale);
}

// dk and dv for keys j0 .. j0 + rows - 1: the queries stream past.
template <int D>
DDPM_INLINE void grad_keys(const HeadGrad& h, int64_t j0, int rows, float scale2, float scale) {
  vf kt[D], vt[D];
  load_transposed<D>(kt, h.k, h.stride, j0, rows, scale2);
  load_transposed<D>(vt, h.v, h.stride, j0, rows, 1.0f);
  vf dk[D], dv[D];
  for (int c = 0; c < D; ++c) dk[c] = dv[c] = vf{};
  // Lanes past `rows` compute values that are never stored.
  alignas(64) vf p[kBlock], ds[kBlock];
  for (int64_t i0 = 0; i0 < h.tokens; i0 += kBlock) {
    const int nb = static_cast<int>(std::min<int64_t>(kBlock, h.tokens - i0));
    dot_rows<D>(p, h.q + i0 * h.stride, h.stride, nb, kt);
    dot_rows<D>(ds, h.dout + i0 * h.dout_stride, h.dout_stride, nb, vt);
    for (int i = 0; i < nb; ++i) {
      const int64_t at = (i0 + i) * h.heads;
      p[i] = exp2_nonpositive(p[i] - h.lse[at]);
      ds[i] = p[i] * (ds[i] - h.delta[at]);
    }
    accumulate_rows<D>(dv, h.dout + i0 * h.dout_stride, h.dout_stride, nb, p);
    accumulate_rows<D>(dk, h.q + i0 * h.stride, h.stride, nb, ds);
  }
  store_transposed<D>(dk, h.dk, h.stride, j0, rows, scale);
  store_transposed<D>(dv, h.dv, h.stride, j0, rows, 1.0f);
}

template <int D>
DDPM_INLINE void grad_tasks(bool keys, const AttentionShape& s, const float* qkv, const float* lse,
                            const float* delta, const float* dout, float* dqkv, float scale,
                            int64_t begin, int64_t end) {
  const int64_t blocks = (s.tokens + kLanes - 1) / kLanes, C = s.channels;
  const float scale2 = scale * 1.4426950408889634f;  // log2(e)
  for (int64_t task = begin; task < end; ++task) {
    const int64_t b = task / (s.heads * blocks), hd = task / blocks % s.heads, blk = task % blocks;
    const int64_t row0 = b * s.tokens, at = row0 * s.heads + hd;
    const float* in = qkv + row0 * 3 * C + hd * D;
    float* grad = dqkv + row0 * 3 * C + hd * D;
    const HeadGrad h{in, in + C, in + 2 * C, dout + row0 * C + hd * D, lse + at, delta + at,
                     grad, grad + C, grad + 2 * C, 3 * C, C, s.heads, s.tokens};
    const int64_t first = blk * kLanes;
    const int rows = static_cast<int>(std::min<int64_t>(kLanes, s.tokens - first));
    if (keys) {
      grad_keys<D>(h, first, rows, scale2, scale);
    } else {
      grad_queries<D>(h, first, rows, scale2, scale);
    }
  }
}

// The multi-versioned entry (Clang cannot multi-version templates), as in the forward.
DDPM_CLONES void grad_range(bool keys, const AttentionShape& s, const float* qkv, const float* lse,
                            const float* delta, const float* dout, float* dqkv, float scale,
                            int64_t begin, int64_t end) {
  switch (s.channels / s.heads) {
    case 8: return grad_tasks<8>(keys, s, qkv, lse, delta, dout, dqkv, scale, begin, end);
    case 16: return grad_tasks<16>(keys, s, qkv, lse, delta, dout, dqkv, scale, begin, end);
    case 32: return grad_tasks<32>(keys, s, qkv, lse, delta, dout, dqkv, scale, begin, end);
    case 64: return grad_tasks<64>(keys, s, qkv, lse, delta, dout, dqkv, scale, begin, end);
  }
}

}  // namespace

void fused_attention_backward(const AttentionShape& s, const float* qkv, const float* out,
                              const float* lse, const float* dout, float* dqkv, float scale) {
  const int64_t rows = s.batch * s.tokens, C = s.channels, d = C / s.heads;
  // delta_i = dout_i . out_i per head.
  std::vector<float> delta(static_cast<std::size_t>(rows * s.heads));
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t hd = 0; hd < s.heads; ++hd) {
        float sum = 0;
        for (int64_t c = hd * d; c < (hd + 1) * d; ++c) sum += dout[r * C + c] * out[r * C + c];
        delta[r * s.heads + hd] = sum;
      }
    }
  });
  const int64_t tasks = s.batch * s.heads * ((s.tokens + kLanes - 1) / kLanes);
  for (bool keys : {false, true}) {
    at::parallel_for(0, tasks, 1, [&](int64_t b, int64_t e) {
      grad_range(keys, s, qkv, lse, delta.data(), dout, dqkv, scale, b, e);
    });
  }
}

}  // namespace ddpm
