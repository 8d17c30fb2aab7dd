#pragma once
// Multi-head attention that never materialises the score matrix: each task takes 16 queries of
// one head (one vector lane each) and streams the keys past them in blocks that stay in L1,
// with the softmax computed online (running maximum and sum, rescaled per block). The backward
// recomputes the probabilities from the saved log-sum-exp the same way.
// At 64x64 the reference's attention has 4096 tokens of head width 16; through bmm + softmax
// its scores made 4 x 4096 x 4096 floats per image pass through memory three times, which cost
// 70% of a seed64 forward, and training kept them all for autograd (see tests/bench/NOTES.md).
#include <cstdint>

namespace ddpm {

struct AttentionShape {
  int64_t batch = 0;
  int64_t tokens = 0;    // N
  int64_t channels = 0;  // C = heads * head width
  int64_t heads = 0;
};

// Whether the kernels exist for this head width (C / heads); the functions below do nothing
// for other widths, so callers check first.
bool fused_attention_supports(int64_t head_dim);

// qkv: [batch, tokens, 3C] float32, contiguous, the packed in-projection (q | k | v, each head
// `head_dim` consecutive channels), as torch.nn.MultiheadAttention lays it out.
// out: [batch, tokens, C] float32, contiguous: softmax(q k^T * scale) v per head, heads side by
// side in the channel dimension (ready for the out-projection).
// lse (may be null): [batch, tokens, heads], each query's log2 of its softmax denominator over
// the scores in base 2 (q k^T * scale * log2 e): what the backward needs.
// All kernels run on LibTorch's intra-op threads.
void fused_attention(const AttentionShape& shape, const float* qkv, float* out, float scale,
                     float* lse = nullptr);

// The gradient of fused_attention: from qkv, its out and lse, and grad_out ([batch, tokens, C])
// writes grad_qkv ([batch, tokens, 3C], packed like qkv).
void fused_attention_backward(const AttentionShape& shape, const float* qkv, const float* out,
                              const float* lse, const float* grad_out, float* grad_qkv,
                              float scale);

}  // namespace ddpm
