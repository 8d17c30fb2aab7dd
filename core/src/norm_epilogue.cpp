#include "norm_epilogue.h"

#include "ddpm/io/error.h"
#include "direct_conv.h"
#include "norm_epilogue_kernel.h"

namespace ddpm {

namespace {

// Where the kernel applies: inference (no gradients) on float or bfloat16 CPU maps of a multiple
// of 16 pixels (plain) or channels (channels-last), normalised by an affine float GroupNorm of
// their channel count.
bool kernel_takes(const torch::Tensor& x, torch::nn::GroupNorm& norm) {
  return !torch::GradMode::is_enabled() && x.dim() == 4 && x.device().is_cpu() &&
         (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kBFloat16) && norm->options.affine() &&
         norm->weight.scalar_type() == torch::kFloat32 && x.size(1) == norm->options.num_channels() &&
         (channels_last(x) ? x.size(1) % 16 == 0 : (x.size(2) * x.size(3)) % 16 == 0);
}

}  // namespace

torch::Tensor fused_norm_epilogue(const torch::Tensor& x_in, torch::nn::GroupNorm& norm, const NormEpilogue& e) {
  if (!kernel_takes(x_in, norm)) {
    throw Error("the fused GroupNorm takes float32 or bfloat16 CPU maps [B, " +
                std::to_string(norm->options.num_channels()) +
                ", H, W] with H * W (channels-last: C) a multiple of 16, an affine float32 norm and gradients off; got " +
                c10::str(x_in.sizes()) + " " + std::string(c10::toString(x_in.scalar_type())));
  }
  const auto& opt = norm->options;
  const bool x_bf16 = x_in.scalar_type() == torch::kBFloat16;
  const int64_t B = x_in.size(0), C = x_in.size(1), HW = x_in.size(2) * x_in.size(3);
  const int64_t G = opt.num_groups(), Cg = C / G;
  // A channels-last map stays channels-last (the next convolution's layout, direct_conv.h).
  const auto format = channels_last(x_in) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const torch::Tensor x = x_in.contiguous(format);
  const torch::Tensor res = e.residual.defined() ? e.residual.contiguous(format) : torch::Tensor();
  if (res.defined() && (res.sizes() != x.sizes() || res.scalar_type() != torch::kFloat32)) {
    throw Error("the fused GroupNorm's residual has shape " + c10::str(res.sizes()) + ", not " + c10::str(x.sizes()));
  }
  const auto per_channel = [&](const torch::Tensor& t) {
    return t.defined() ? t.to(torch::kFloat32).contiguous().expand({B, C}).contiguous() : torch::Tensor();
  };
  const torch::Tensor scale = per_channel(e.scale), shift = per_channel(e.shift);
  const torch::Tensor g = norm->weight.contiguous(), bt = norm->bias.contiguous();
  torch::Tensor out = torch::empty(
      x.sizes(), x.options().dtype(e.bf16_out ? torch::kBFloat16 : torch::kFloat32).memory_format(format));

  const NormOperands o{x.data_ptr(),
                   res.defined() ? res.data_ptr<float>() : nullptr,
                   g.data_ptr<float>(),
                   bt.data_ptr<float>(),
                   scale.defined() ? scale.data_ptr<float>() : nullptr,
                   shift.defined() ? shift.data_ptr<float>() : nullptr,
                   out.data_ptr(),
                   C,
                   HW,
                   opt.eps(),
                   e.gelu,
                   x_bf16,
                   e.bf16_out,
                   format == at::MemoryFormat::ChannelsLast};
  normalize_groups(o, B, G, Cg);
  return out;
}

torch::Tensor norm_epilogue(const torch::Tensor& x, torch::nn::GroupNorm& norm, const NormEpilogue& e) {
  if (kernel_takes(x, norm)) return fused_norm_epilogue(x, norm, e);
  torch::Tensor y = norm->forward(x.scalar_type() == torch::kBFloat16 ? x.to(torch::kFloat32) : x);
  const auto map = [](const torch::Tensor& t) { return t.unsqueeze(-1).unsqueeze(-1); };
  if (e.scale.defined()) {
    y = torch::addcmul(e.shift.defined() ? y + map(e.shift) : y, y, map(e.scale));
  } else if (e.shift.defined()) {
    y = y + map(e.shift);
  }
  if (e.residual.defined()) y = e.residual + y;
  if (e.gelu) y = torch::gelu(y);
  return e.bf16_out ? y.to(torch::kBFloat16) : y;
}

}  // namespace ddpm
