#pragma once
// The noise-prediction UNet of the reference (DoubleConv blocks with GroupNorm(1, C) and GELU,
// Down/Up blocks that add a projected time embedding, self-attention blocks with 4 heads),
// generalised to any channel count, width, depth, attention placement and image size.
// Parameter names follow the reference's PyTorch state_dict, so its checkpoints map 1:1.
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "ddpm/unet_config.h"

namespace ddpm {

class DoubleConvImpl;
class DownImpl;
class UpImpl;
class SelfAttentionImpl;

class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const UNetConfig& config);

  // x: [B, C, H, W] with H == W == image_size; t: [B] timesteps (integer or float);
  // y: [B] int64 class indices, -1 for "no class" (the unconditional branch of classifier-free
  // guidance), or an undefined tensor for none at all. With `tiling`, every 3x3 convolution
  // pads circularly, so the output tiles seamlessly. guidance: [B] float scales, required by
  // (and only by) a model whose config has guidance_input. Returns the predicted noise.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t,
                        const torch::Tensor& y = {}, bool tiling = false,
                        const torch::Tensor& guidance = {});

  // Sinusoidal encoding of t exactly as the reference computes it (float32).
  torch::Tensor time_encoding(const torch::Tensor& t) const;

  const UNetConfig& config() const { return config_; }
  int64_t parameter_count() const;

 private:
  UNetConfig config_;
  bool train_channels_last_ = false;  // every GroupNorm takes the fused training kernel
  std::shared_ptr<DoubleConvImpl> inc_;
  std::vector<std::shared_ptr<DownImpl>> downs_;
  std::vector<std::shared_ptr<SelfAttentionImpl>> down_attn_;  // null where none
  std::vector<std::shared_ptr<DoubleConvImpl>> bottleneck_;
  std::vector<std::shared_ptr<UpImpl>> ups_;
  std::vector<std::shared_ptr<SelfAttentionImpl>> up_attn_;  // null where none
  torch::nn::Conv2d outc_{nullptr};
  torch::nn::Embedding label_emb_{nullptr};
  torch::nn::Linear guidance_emb_{nullptr};  // guidance_input models only
};
TORCH_MODULE(UNet);

}  // namespace ddpm
