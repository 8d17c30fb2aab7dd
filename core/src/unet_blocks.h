#pragma once
// The UNet's building blocks. Each registers its children under the reference's names
// (`double_conv.0`, `maxpool_conv.1`, `emb_layer.1`, `mha.in_proj_weight`, `ff_self.3`, ...)
// through Sequential containers, but forward() calls the children directly.
#include <torch/torch.h>

#include "low_rank.h"
#include "norm_epilogue.h"
#include "packed_conv.h"

namespace ddpm {

// How the blocks normalise and take the embedding (UNetConfig::norm_groups, scale_shift).
struct BlockStyle {
  int norm_groups = 1;
  bool scale_shift = false;
};

// conv3x3 -> GroupNorm -> GELU -> conv3x3 -> GroupNorm [-> + x -> GELU if residual]
// [-> `last`: the embedding of a Down or Up block, applied within the second norm's pass]
// The padding mode is chosen per call (zeros, or circular for tiling) rather than stored in
// the module, so one model can serve tiled and untiled jobs at the same time.
class DoubleConvImpl : public torch::nn::Module {
 public:
  DoubleConvImpl(int in, int out, int mid = 0, bool residual = false, int norm_groups = 1);
  torch::Tensor forward(const torch::Tensor& x, bool tiling = false, NormEpilogue last = {});
  LowRankSlots low_rank_slots() { return {{"double_conv.0.weight", &lora1_}, {"double_conv.3.weight", &lora2_}}; }

 private:
  bool residual_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  PackedConvWeight packed1_, packed2_;  // CPU inference only
  std::shared_ptr<LowRankDelta> lora1_, lora2_;
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
};
TORCH_MODULE(DoubleConv);

// maxpool 2 -> DoubleConv(in, in, residual) -> DoubleConv(in, out) -> + Linear(SiLU(emb))
class DownImpl : public torch::nn::Module {
 public:
  DownImpl(int in, int out, int emb_dim, const BlockStyle& style = {});
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb, bool tiling);

 private:
  DoubleConv conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear emb_{nullptr};
  bool scale_shift_;
};

// bilinear x2 (align_corners; half-pixel and circular when tiling) -> cat(skip, x) -> DoubleConv(in, in, residual)
// -> DoubleConv(in, out, in / 2) -> + Linear(SiLU(emb))
class UpImpl : public torch::nn::Module {
 public:
  UpImpl(int in, int out, int emb_dim, const BlockStyle& style = {});
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& skip,
                        const torch::Tensor& emb, bool tiling);

 private:
  DoubleConv conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear emb_{nullptr};
  bool scale_shift_;
};

// Multi-head attention with the parameters of torch.nn.MultiheadAttention (in_proj_weight,
// in_proj_bias, out_proj); the attention itself is packed_attention (core/src/attention.h),
// which never materialises the N x N scores (4096 x 4096 per head at 64x64) where it can.
class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  MultiHeadAttentionImpl(int channels, int heads);
  torch::Tensor forward(const torch::Tensor& x);  // [B, N, C] -> [B, N, C]
  LowRankSlots low_rank_slots() { return {{"in_proj_weight", &lora_in_}, {"out_proj.weight", &lora_out_}}; }

 private:
  int heads_;
  torch::Tensor in_proj_weight_, in_proj_bias_;
  torch::nn::Linear out_proj_{nullptr};
  std::shared_ptr<LowRankDelta> lora_in_, lora_out_;
};
TORCH_MODULE(MultiHeadAttention);

// x + MHA(LN(x)), then h + FF(h) with FF = LN -> Linear -> GELU -> Linear, over the pixels
// of a [B, C, H, W] feature map.
class SelfAttentionImpl : public torch::nn::Module {
 public:
  SelfAttentionImpl(int channels, int heads);
  torch::Tensor forward(const torch::Tensor& x);
  LowRankSlots low_rank_slots() { return {{"ff_self.1.weight", &lora_ff1_}, {"ff_self.3.weight", &lora_ff2_}}; }

 private:
  MultiHeadAttention mha_{nullptr};
  torch::nn::LayerNorm ln_{nullptr}, ff_ln_{nullptr};
  torch::nn::Linear ff1_{nullptr}, ff2_{nullptr};
  std::shared_ptr<LowRankDelta> lora_ff1_, lora_ff2_;
};

}  // namespace ddpm
