#include "unet_blocks.h"

#include <ATen/autocast_mode.h>

#include "attention.h"
#include "ddpm/precision.h"
#include "max_pool.h"
#include "norm_epilogue.h"
#include "per_image_linear.h"

namespace ddpm {
namespace F = torch::nn::functional;

namespace {

torch::nn::Conv2d conv3x3(int in, int out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false));
}

// The reference's emb_layer: Sequential(SiLU, Linear), registered under `name`.
torch::nn::Linear register_emb_layer(torch::nn::Module& m, int emb_dim, int out) {
  torch::nn::Linear lin(emb_dim, out);
  torch::nn::Sequential seq(torch::nn::SiLU(), lin);
  m.register_module("emb_layer", seq);
  return lin;
}

// The [B, C] projected embedding, added to every pixel after a block's last GroupNorm; with
// scale_shift the projection is [B, 2C]: (scale, shift), and y * (1 + scale) + shift (as in
// ADM's blocks, so the embedding sets each channel's gain and offset). Broadcast per channel
// inside the norm's pass instead of the reference's repeat() and add.
NormEpilogue embedding_epilogue(torch::nn::Linear lin, const torch::Tensor& emb, bool scale_shift) {
  NormEpilogue e;
  const torch::Tensor p = per_image_linear(lin, torch::silu(emb));
  if (!scale_shift) {
    e.shift = p;
  } else {
    const int64_t C = p.size(1) / 2;
    e.scale = p.narrow(1, 0, C);
    e.shift = p.narrow(1, C, C);
  }
  return e;
}

// The largest divisor of `channels` that is at most `wanted`: GroupNorm needs groups that
// divide the width, and widths differ between layers (an Up block's middle is half its input).
int groups_for(int channels, int wanted) {
  for (int g = std::min(wanted, channels); g > 1; --g) {
    if (channels % g == 0) return g;
  }
  return 1;
}

}  // namespace

DoubleConvImpl::DoubleConvImpl(int in, int out, int mid, bool residual, int norm_groups) : residual_(residual) {
  if (mid <= 0) mid = out;
  conv1_ = conv3x3(in, mid);
  norm1_ = torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups_for(mid, norm_groups), mid));
  conv2_ = conv3x3(mid, out);
  norm2_ = torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups_for(out, norm_groups), out));
  register_module("double_conv",
                  torch::nn::Sequential(conv1_, norm1_, torch::nn::GELU(), conv2_, norm2_));
}

torch::Tensor DoubleConvImpl::forward(const torch::Tensor& x, bool tiling, NormEpilogue last) {
  const auto onednn_inference = [](const torch::Tensor& t) {
    return !torch::GradMode::is_enabled() && t.device().is_cpu() &&
           (t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kBFloat16) && at::hasMKLDNN();
  };
  const auto conv = [tiling, &onednn_inference](torch::nn::Conv2d& c, PackedConvWeight& packed,
                                                const std::shared_ptr<LowRankDelta>& lora, const torch::Tensor& in) {
    const torch::Tensor padded =
        tiling ? F::pad(in, F::PadFuncOptions({1, 1, 1, 1}).mode(torch::kCircular)) : in;
    const int64_t pad = tiling ? 0 : 1;
    // Inference on the CPU always takes oneDNN's convolution. LibTorch would pick im2col +
    // GEMM for a batch of one below 20480 input values and oneDNN otherwise; the two round
    // differently (up to 1e-4 at 64 channels), so the same image would come out slightly
    // different as one of a batch or alone (split_forward hands out parts of any size). oneDNN
    // is as fast or faster at these shapes on one thread (tests/bench/NOTES.md).
    if (lora) {
      // A fine-tune's adapter: one convolution with the merged weight W + up · down, whose
      // backward gives the merged weight's gradient (as training every weight does) to up and
      // down through two small products. Not the packed weight: the merged one is new at every call.
      const torch::Tensor w = merged(c->weight, lora);
      return onednn_inference(in) ? onednn_conv(padded, w, pad) : torch::conv2d(padded, w, {}, 1, pad);
    }
    return onednn_inference(in) ? packed.conv(padded, c->weight, pad) : torch::conv2d(padded, c->weight, {}, 1, pad);
  };
  // bf16 inference without adapters: the block's input is rounded to bfloat16 once, each
  // convolution's bfloat16 result goes straight into the norm kernel, and the first norm writes
  // bfloat16 for the second convolution (no conversion operations in between); the block's
  // output (the second norm's) stays float.
  const bool bf16 = inference_precision() == Precision::BFloat16 && !lora1_ && !lora2_ &&
                    x.scalar_type() == torch::kFloat32 && onednn_inference(x);
  // Training under bf16 autocast: the first norm writes the bfloat16 that autocast would cast
  // its result to for the second convolution anyway (the same values, one pass fewer).
  const bool autocast_bf16 = torch::GradMode::is_enabled() && x.device().is_cpu() && at::autocast::is_cpu_enabled() &&
                             at::autocast::get_autocast_cpu_dtype() == at::kBFloat16;
  NormEpilogue first;
  first.gelu = true;
  first.bf16_out = bf16 || autocast_bf16;
  const torch::Tensor h =
      norm_epilogue(conv(conv1_, packed1_, lora1_, bf16 ? x.to(torch::kBFloat16) : x), norm1_, first);
  if (residual_) {
    last.residual = x;
    last.gelu = true;
  }
  return norm_epilogue(conv(conv2_, packed2_, lora2_, h), norm2_, last);
}

DownImpl::DownImpl(int in, int out, int emb_dim, const BlockStyle& style) : scale_shift_(style.scale_shift) {
  conv1_ = DoubleConv(in, in, 0, true, style.norm_groups);
  conv2_ = DoubleConv(in, out, 0, false, style.norm_groups);
  register_module("maxpool_conv",
                  torch::nn::Sequential(torch::nn::MaxPool2d(2), conv1_, conv2_));
  emb_ = register_emb_layer(*this, emb_dim, scale_shift_ ? 2 * out : out);
}

torch::Tensor DownImpl::forward(const torch::Tensor& x, const torch::Tensor& emb, bool tiling) {
  return conv2_->forward(conv1_->forward(max_pool_2x2(x), tiling), tiling,
                         embedding_epilogue(emb_, emb, scale_shift_));
}

UpImpl::UpImpl(int in, int out, int emb_dim, const BlockStyle& style) : scale_shift_(style.scale_shift) {
  conv1_ = DoubleConv(in, in, 0, true, style.norm_groups);
  conv2_ = DoubleConv(in, out, in / 2, false, style.norm_groups);
  register_module("conv", torch::nn::Sequential(conv1_, conv2_));
  emb_ = register_emb_layer(*this, emb_dim, scale_shift_ ? 2 * out : out);
}

torch::Tensor UpImpl::forward(const torch::Tensor& x, const torch::Tensor& skip,
                              const torch::Tensor& emb, bool tiling) {
  torch::Tensor up;
  if (tiling) {
    // The reference's align_corners upsampling pins the borders, which breaks the wrap-around;
    // upsampling a circularly padded map (half-pixel centres) and cropping is seamless.
    const torch::Tensor padded = F::pad(x, F::PadFuncOptions({1, 1, 1, 1}).mode(torch::kCircular));
    up = F::interpolate(padded, F::InterpolateFuncOptions()
                                    .scale_factor(std::vector<double>{2.0, 2.0})
                                    .mode(torch::kBilinear)
                                    .align_corners(false))
             .narrow(2, 2, skip.size(2))
             .narrow(3, 2, skip.size(3));
  } else {
    up = F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{skip.size(2), skip.size(3)})
                               .mode(torch::kBilinear)
                               .align_corners(true));
  }
  return conv2_->forward(conv1_->forward(torch::cat({skip, up}, 1), tiling), tiling,
                         embedding_epilogue(emb_, emb, scale_shift_));
}

MultiHeadAttentionImpl::MultiHeadAttentionImpl(int channels, int heads)
    : heads_(heads) {
  in_proj_weight_ = register_parameter("in_proj_weight", torch::empty({3 * channels, channels}));
  in_proj_bias_ = register_parameter("in_proj_bias", torch::zeros({3 * channels}));
  out_proj_ = register_module("out_proj", torch::nn::Linear(channels, channels));
  // torch.nn.MultiheadAttention's initialisation.
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(in_proj_weight_);
  out_proj_->bias.zero_();
}

torch::Tensor MultiHeadAttentionImpl::forward(const torch::Tensor& x) {
  const torch::Tensor qkv = per_image_linear(x, merged(in_proj_weight_, lora_in_), in_proj_bias_);
  const torch::Tensor a = packed_attention(qkv, heads_);
  return per_image_linear(a, merged(out_proj_->weight, lora_out_), out_proj_->bias);
}

SelfAttentionImpl::SelfAttentionImpl(int channels, int heads) {
  mha_ = register_module("mha", MultiHeadAttention(channels, heads));
  ln_ = register_module(
      "ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({static_cast<int64_t>(channels)})));
  ff_ln_ = torch::nn::LayerNorm(torch::nn::LayerNormOptions({static_cast<int64_t>(channels)}));
  ff1_ = torch::nn::Linear(channels, channels);
  ff2_ = torch::nn::Linear(channels, channels);
  register_module("ff_self", torch::nn::Sequential(ff_ln_, ff1_, torch::nn::GELU(), ff2_));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  // A channels-last map already is the [B, N, C] sequence; it is given back channels-last.
  const bool nhwc = channels_last(x);
  const torch::Tensor seq = nhwc ? x.permute({0, 2, 3, 1}).reshape({B, H * W, C})
                                 : x.view({B, C, H * W}).transpose(1, 2);  // [B, N, C]
  const torch::Tensor a = mha_(ln_(seq)) + seq;
  const auto linear = [](torch::nn::Linear& l, const std::shared_ptr<LowRankDelta>& lora, const torch::Tensor& in) {
    return per_image_linear(in, merged(l->weight, lora), l->bias);
  };
  const torch::Tensor out = linear(ff2_, lora_ff2_, torch::gelu(linear(ff1_, lora_ff1_, ff_ln_(a)))) + a;
  if (nhwc) return out.reshape({B, H, W, C}).permute({0, 3, 1, 2});
  return out.transpose(1, 2).reshape({B, C, H, W});
}

}  // namespace ddpm
