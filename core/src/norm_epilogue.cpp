#include "norm_epilogue.h"

#include "ddpm/io/error.h"
#include "norm_epilogue_kernel.h"

namespace ddpm {

torch::Tensor fused_norm_epilogue(const torch::Tensor& x_in, torch::nn::GroupNorm& norm, const NormEpilogue& e) {
  const auto& opt = norm->options;
  const torch::Tensor& gamma = norm->weight;
  const torch::Tensor& beta = norm->bias;
  const bool x_bf16 = x_in.scalar_type() == torch::kBFloat16;
  if (x_in.dim() != 4 || !x_in.device().is_cpu() || !(x_in.scalar_type() == torch::kFloat32 || x_bf16) ||
      !gamma.defined() || gamma.scalar_type() != torch::kFloat32 || torch::GradMode::is_enabled()) {
    throw Error("the fused GroupNorm takes float32 or bfloat16 CPU feature maps [B, C, H, W] with gradients off");
  }
  const int64_t B = x_in.size(0), C = x_in.size(1), HW = x_in.size(2) * x_in.size(3);
  const int64_t G = opt.num_groups(), Cg = C / G;
  if (C != opt.num_channels() || HW % 16 != 0) {
    throw Error("the fused GroupNorm takes " + std::to_string(opt.num_channels()) +
                " channels of a multiple of 16 pixels; got " + c10::str(x_in.sizes()));
  }
  const torch::Tensor x = x_in.contiguous();
  const torch::Tensor res = e.residual.defined() ? e.residual.contiguous() : torch::Tensor();
  if (res.defined() && (res.sizes() != x.sizes() || res.scalar_type() != torch::kFloat32)) {
    throw Error("the fused GroupNorm's residual has shape " + c10::str(res.sizes()) + ", not " + c10::str(x.sizes()));
  }
  const auto per_channel = [&](const torch::Tensor& t) {
    return t.defined() ? t.to(torch::kFloat32).contiguous().expand({B, C}).contiguous() : torch::Tensor();
  };
  const torch::Tensor scale = per_channel(e.scale), shift = per_channel(e.shift);
  const torch::Tensor g = gamma.contiguous(), bt = beta.contiguous();
  torch::Tensor out = torch::empty(x.sizes(), x.options().dtype(e.bf16_out ? torch::kBFloat16 : torch::kFloat32));

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
                   e.bf16_out};
  normalize_groups(o, B, G, Cg);
  return out;
}

torch::Tensor norm_epilogue(const torch::Tensor& x, torch::nn::GroupNorm& norm, const NormEpilogue& e) {
  const bool bf16 = x.scalar_type() == torch::kBFloat16;
  if (!torch::GradMode::is_enabled() && x.device().is_cpu() && (x.scalar_type() == torch::kFloat32 || bf16) &&
      x.dim() == 4 && norm->options.affine() && norm->weight.scalar_type() == torch::kFloat32 &&
      (x.size(2) * x.size(3)) % 16 == 0) {
    return fused_norm_epilogue(x, norm, e);
  }
  torch::Tensor y = norm->forward(bf16 ? x.to(torch::kFloat32) : x);
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
