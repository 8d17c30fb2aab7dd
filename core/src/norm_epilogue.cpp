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

// Where the training kernel applies: float32 (or an autocast bf16 convolution's bfloat16 output)
// channels-last CPU maps of a multiple of 16 channels, with gradients on.
bool training_kernel_takes(const torch::Tensor& x, torch::nn::GroupNorm& norm, const NormEpilogue& e) {
  return torch::GradMode::is_enabled() && x.dim() == 4 && x.device().is_cpu() && channels_last(x) &&
         (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kBFloat16) && norm->options.affine() &&
         norm->weight.scalar_type() == torch::kFloat32 && x.size(1) == norm->options.num_channels() &&
         x.size(1) % 16 == 0 &&
         (!e.residual.defined() || (e.residual.sizes() == x.sizes() && e.residual.scalar_type() == torch::kFloat32));
}

// GroupNorm + epilogue with its own backward pass (norm_epilogue_backward.cpp) on
// channels-last maps, where LibTorch 1.13's element-wise operations and their backward passes
// are several times slower than on plain maps (tests/bench/NOTES.md). Under bf16 autocast it
// reads the convolution's bfloat16 output as it is and can write the next convolution's
// bfloat16 input (the values autocast's cast would give), and its gradients follow those types.
struct FusedNormEpilogue : torch::autograd::Function<FusedNormEpilogue> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& gamma, const torch::Tensor& beta, const torch::Tensor& scale_arg,
                               const torch::Tensor& shift_arg, const torch::Tensor& residual_arg, int64_t groups,
                               double eps, bool gelu, bool bf16_out) {
    const auto cl = at::MemoryFormat::ChannelsLast;
    // Absent parts are empty tensors (autograd takes defined inputs only).
    const auto present = [](const torch::Tensor& t, auto make) { return t.numel() > 0 ? make(t) : torch::Tensor(); };
    const auto rows = [](const torch::Tensor& t) { return t.contiguous(); };
    const torch::Tensor x = x_in.contiguous(cl);
    const torch::Tensor res = present(residual_arg, [&](const torch::Tensor& t) { return t.contiguous(cl); });
    const torch::Tensor scale = present(scale_arg, rows), shift = present(shift_arg, rows);
    const int64_t B = x.size(0), C = x.size(1);
    torch::Tensor out = torch::empty(x.sizes(), x.options()
                                                    .dtype(bf16_out ? torch::kBFloat16 : torch::kFloat32)
                                                    .memory_format(cl));
    const auto stats = gamma.options();
    torch::Tensor mean = torch::empty({B, groups}, stats), rstd = torch::empty({B, groups}, stats);
    NormOperands o = operands(x, res, gamma, beta, scale, shift, eps, gelu);
    o.out = out.data_ptr();
    o.out_bf16 = bf16_out;
    o.mean_out = mean.data_ptr<float>();
    o.rstd_out = rstd.data_ptr<float>();
    normalize_groups(o, B, groups, C / groups);
    ctx->save_for_backward({x, gamma, beta, scale, shift, res, mean, rstd});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["gelu"] = gelu;
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto s = ctx->get_saved_variables();
    const torch::Tensor &x = s[0], &gamma = s[1], &beta = s[2], &scale = s[3], &shift = s[4], &res = s[5];
    const int64_t groups = s[6].size(1);
    const bool gelu = ctx->saved_data["gelu"].toBool();
    torch::Tensor dout = grads[0].contiguous(at::MemoryFormat::ChannelsLast);
    if (dout.scalar_type() != torch::kBFloat16) dout = dout.to(torch::kFloat32);
    const int64_t B = x.size(0), C = x.size(1);
    const auto stats = gamma.options();
    torch::Tensor dx = torch::empty_like(x);
    torch::Tensor dpre = gelu ? torch::empty(x.sizes(), stats.memory_format(at::MemoryFormat::ChannelsLast)) : dout;
    torch::Tensor dgamma = torch::empty_like(gamma), dbeta = torch::empty_like(beta);
    torch::Tensor dscale = scale.defined() ? torch::empty({B, C}, stats) : torch::Tensor();
    torch::Tensor dshift = shift.defined() ? torch::empty({B, C}, stats) : torch::Tensor();
    const NormOperands o = operands(x, res, gamma, beta, scale, shift, ctx->saved_data["eps"].toDouble(), gelu);
    const auto ptr = [](torch::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
    const NormGradients g{dout.data_ptr(), dout.scalar_type() == torch::kBFloat16, s[6].data_ptr<float>(),
                          s[7].data_ptr<float>(), dx.data_ptr(), gelu ? dpre.data_ptr<float>() : nullptr,
                          dgamma.data_ptr<float>(), dbeta.data_ptr<float>(), ptr(dscale), ptr(dshift)};
    normalize_groups_backward(o, g, B, groups, C / groups);
    // The residual's gradient is the GELU input's (dpre), or dout itself without a GELU.
    return {dx, dgamma, dbeta, dscale, dshift, res.defined() ? dpre : torch::Tensor(),
            torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }

  static NormOperands operands(const torch::Tensor& x, const torch::Tensor& res, const torch::Tensor& gamma,
                               const torch::Tensor& beta, const torch::Tensor& scale, const torch::Tensor& shift,
                               double eps, bool gelu) {
    const auto ptr = [](const torch::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
    return NormOperands{x.data_ptr(), ptr(res), ptr(gamma), ptr(beta), ptr(scale), ptr(shift), nullptr,
                        x.size(1),    x.size(2) * x.size(3), eps, gelu, x.scalar_type() == torch::kBFloat16, false, true};
  }
};

torch::Tensor fused_norm_epilogue_training(const torch::Tensor& x, torch::nn::GroupNorm& norm, const NormEpilogue& e) {
  const auto per_image = [](const torch::Tensor& t) { return t.defined() ? t.to(torch::kFloat32) : torch::empty({0}); };
  return FusedNormEpilogue::apply(x, norm->weight, norm->bias, per_image(e.scale), per_image(e.shift),
                                  e.residual.defined() ? e.residual : torch::empty({0}), norm->options.num_groups(),
                                  norm->options.eps(), e.gelu, e.bf16_out);
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
  if (training_kernel_takes(x, norm, e)) return fused_norm_epilogue_training(x, norm, e);
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
