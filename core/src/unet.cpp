#include "ddpm/unet.h"

#include "ddpm/io/error.h"
#include "per_image_linear.h"
#include "unet_blocks.h"

namespace ddpm {
namespace {

constexpr double kGuidanceEncodingScale = 100;

}  // namespace

UNetImpl::UNetImpl(const UNetConfig& config) : config_(config) {
  config_.validate();
  const UNetConfig& c = config_;
  const int L = c.levels();
  const int S = c.image_size;
  int attn_index = 0;
  const auto attention = [&](int channels, int resolution) -> std::shared_ptr<SelfAttentionImpl> {
    if (!c.attention_at(resolution)) return nullptr;
    return register_module("sa" + std::to_string(++attn_index),
                           std::make_shared<SelfAttentionImpl>(channels, c.attention_heads));
  };

  const BlockStyle style{c.norm_groups, c.scale_shift};
  const auto dconv = [&](int in, int out) { return std::make_shared<DoubleConvImpl>(in, out, 0, false, c.norm_groups); };
  inc_ = register_module("inc", dconv(c.in_channels, c.channels_at(0)));
  for (int i = 1; i <= L; ++i) {
    downs_.push_back(register_module(
        "down" + std::to_string(i),
        std::make_shared<DownImpl>(c.channels_at(i - 1), c.channels_at(i), c.time_dim, style)));
    down_attn_.push_back(attention(c.channels_at(i), S >> i));
  }
  const int deep = c.channels_at(L);
  bottleneck_.push_back(register_module("bot1", dconv(deep, 2 * deep)));
  bottleneck_.push_back(register_module("bot2", dconv(2 * deep, 2 * deep)));
  bottleneck_.push_back(register_module("bot3", dconv(2 * deep, deep)));
  int prev = deep;
  for (int k = 1; k <= L; ++k) {
    const int level = L - k;  // the Up block's output resolution is S / 2^level
    const int in = prev + c.channels_at(level);
    const int out = level >= 1 ? c.channels_at(level - 1) : c.channels_at(0);
    ups_.push_back(register_module("up" + std::to_string(k),
                                   std::make_shared<UpImpl>(in, out, c.time_dim, style)));
    up_attn_.push_back(attention(out, S >> level));
    prev = out;
  }
  outc_ = register_module("outc", torch::nn::Conv2d(torch::nn::Conv2dOptions(prev, c.out_channels, 1)));
  // Training runs on channels-last maps where every GroupNorm has the fused training kernel
  // (norm_epilogue.h): its convolutions skip oneDNN's reorders, but LibTorch's own element-wise
  // operations would be slower on such maps than the reorders cost.
  train_channels_last_ = true;
  for (const auto& m : modules(false)) {
    if (const auto* gn = m->as<torch::nn::GroupNorm>()) train_channels_last_ &= gn->options.num_channels() % 16 == 0;
  }
  if (c.conditional()) {
    label_emb_ = register_module("label_emb", torch::nn::Embedding(c.num_classes, c.time_dim));
  }
  if (c.guidance_input) {
    // (scale, shift) of the class embedding. Zero at first: a student made from a teacher
    // starts as the teacher's conditional branch.
    guidance_emb_ = register_module("guidance_emb", torch::nn::Linear(c.time_dim, 2 * c.time_dim));
    torch::NoGradGuard no_grad;
    guidance_emb_->weight.zero_();
    guidance_emb_->bias.zero_();
  }
}

torch::Tensor UNetImpl::time_encoding(const torch::Tensor& t) const {
  const int64_t C = config_.time_dim;
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(t.device());
  const torch::Tensor inv_freq =
      1.0 / torch::pow(10000.0, torch::arange(0, C, 2, opts) / static_cast<double>(C));
  const torch::Tensor arg = t.to(torch::kFloat32).unsqueeze(-1) * inv_freq;
  return torch::cat({torch::sin(arg), torch::cos(arg)}, -1);
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x, const torch::Tensor& t,
                                const torch::Tensor& y, bool tiling, const torch::Tensor& guidance) {
  const UNetConfig& c = config_;
  if (x.dim() != 4 || x.size(1) != c.in_channels || x.size(2) != c.image_size ||
      x.size(3) != c.image_size) {
    throw Error("UNet input has shape " + c10::str(x.sizes()) + ": expected [B, " +
                std::to_string(c.in_channels) + ", " + std::to_string(c.image_size) + ", " +
                std::to_string(c.image_size) + "]");
  }
  if (t.dim() != 1 || t.size(0) != x.size(0)) {
    throw Error("UNet timesteps have shape " + c10::str(t.sizes()) + ": expected [" +
                std::to_string(x.size(0)) + "]");
  }
  // Encoded in float32 as the reference does, then carried in the weights' precision (a
  // float64 copy of a model is how tests get exact references).
  torch::Tensor emb = time_encoding(t).to(outc_->weight.scalar_type());
  torch::Tensor class_emb;
  if (y.defined()) {
    if (y.dim() != 1 || y.size(0) != x.size(0)) {
      throw Error("UNet class labels have shape " + c10::str(y.sizes()) + ": expected [" +
                  std::to_string(x.size(0)) + "]");
    }
    const int64_t lo = y.min().item<int64_t>(), hi = y.max().item<int64_t>();
    if (!c.conditional() && hi >= 0) {
      throw Error("class index " + std::to_string(hi) +
                  " given to an unconditional model: only -1 (none) is allowed");
    }
    if (lo < -1 || hi >= c.num_classes) {
      throw Error("class index " + std::to_string(lo < -1 ? lo : hi) +
                  " is out of range: allowed -1 (none) to " + std::to_string(c.num_classes - 1));
    }
    if (c.conditional() && hi >= 0) {
      // Label -1 ("no class") adds nothing, as the reference's y=None does.
      const torch::Tensor keep = (y >= 0).to(emb.dtype()).unsqueeze(-1);
      class_emb = label_emb_(y.clamp_min(0)) * keep;
    }
  }
  if (c.guidance_input) {
    if (!guidance.defined() || guidance.dim() != 1 || guidance.size(0) != x.size(0)) {
      throw Error("this model takes a guidance scale per image (it was distilled): expected [" +
                  std::to_string(x.size(0)) + "] scales");
    }
    // Guidance pushes a prediction further along what the class changes, which to first order
    // is the class embedding scaled up: the scale's encoding gives a per-channel (scale, shift)
    // of the class embedding, which can learn that first-order effect directly (an additive
    // embedding alone is the same for every class). The encoding is stretched so that scales
    // 1 to ~10 span its frequencies as the timesteps do.
    const torch::Tensor encoding = time_encoding(guidance * kGuidanceEncodingScale).to(emb.scalar_type());
    const auto ss = per_image_linear(guidance_emb_, encoding).chunk(2, -1);
    if (class_emb.defined()) class_emb = class_emb * (1 + ss[0]);
    emb = emb + ss[1];
  } else if (guidance.defined()) {
    throw Error("this model does not take a guidance scale as an input (it is not guidance-distilled)");
  }
  if (class_emb.defined()) emb = emb + class_emb;

  // CPU inference runs on channels-last maps where oneDNN is called directly (direct_conv.h):
  // its convolutions take and give them without reordering; the result is plain again.
  // Training does too, where its fused norms apply (the constructor's train_channels_last_).
  const bool nhwc = x.device().is_cpu() && x.scalar_type() == torch::kFloat32 &&
                    (torch::GradMode::is_enabled() ? train_channels_last_ : DirectConv::available());
  std::vector<torch::Tensor> skips{inc_->forward(nhwc ? x.contiguous(at::MemoryFormat::ChannelsLast) : x, tiling)};
  torch::Tensor h = skips.back();
  for (std::size_t i = 0; i < downs_.size(); ++i) {
    h = downs_[i]->forward(h, emb, tiling);
    if (down_attn_[i]) h = down_attn_[i]->forward(h);
    skips.push_back(h);
  }
  skips.pop_back();  // the deepest output feeds the bottleneck, not a skip connection
  for (auto& b : bottleneck_) h = b->forward(h, tiling);
  for (std::size_t k = 0; k < ups_.size(); ++k) {
    h = ups_[k]->forward(h, skips.back(), emb, tiling);
    skips.pop_back();
    if (up_attn_[k]) h = up_attn_[k]->forward(h);
  }
  return outc_(h).contiguous();
}

int64_t UNetImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

}  // namespace ddpm
