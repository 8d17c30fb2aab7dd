#pragma once
// Scaled dot-product attention over the packed in-projection of torch.nn.MultiheadAttention,
// choosing the implementation: the fused kernels (core/src/fused_attention.h, forward and
// backward) on the CPU in float32 for head widths they cover, else LibTorch's products (over
// query chunks without autograd, so the N x N scores are never whole).
#include <torch/torch.h>

namespace ddpm {

// qkv: [B, N, 3C] (q | k | v, each head's channels consecutive); returns [B, N, C], the heads'
// softmax(q k^T / sqrt(C / heads)) v side by side. Differentiable.
torch::Tensor packed_attention(const torch::Tensor& qkv, int64_t heads);

// The same through LibTorch's bmm + softmax + bmm, for any device, dtype and head width (what
// packed_attention falls back to; the benchmark's baseline).
torch::Tensor library_attention(const torch::Tensor& qkv, int64_t heads);

}  // namespace ddpm
