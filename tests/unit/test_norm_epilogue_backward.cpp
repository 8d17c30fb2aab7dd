// The fused GroupNorm + epilogue's training kernel (channels-last maps, its own backward pass)
// against LibTorch's separate operations on plain maps: the output and the gradient of every
// input (map, gamma, beta, scale, shift, residual), for every epilogue the blocks use; and a
// whole network's training gradients against a float64 copy, which takes LibTorch's operations.
#include <gtest/gtest.h>

#include "ddpm/unet.h"
#include "direct_conv.h"
#include "norm_epilogue.h"

namespace {

struct Case {
  int batch, groups, channels, size;
};

// Everything one call differentiates by, as leaves.
struct Inputs {
  torch::Tensor x, gamma, beta, scale, shift, residual;
};

// The max of |got - want| over the largest magnitude of `want`.
double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  return (got - want).abs().max().item<double>() / std::max(1e-30, want.abs().max().item<double>());
}

// One forward and backward of norm_epilogue on `in` (x in the given memory format), with the
// upstream gradient `dout`: the output and every gradient, in the inputs' order.
std::vector<torch::Tensor> run(const Inputs& in, int groups, bool gelu, at::MemoryFormat format,
                               const torch::Tensor& dout) {
  torch::AutoGradMode grad(true);
  const auto leaf = [](const torch::Tensor& t) { return t.defined() ? t.detach().clone().requires_grad_(true) : t; };
  torch::nn::GroupNorm n(torch::nn::GroupNormOptions(groups, in.x.size(1)));
  {
    torch::NoGradGuard no_grad;
    n->weight.copy_(in.gamma);
    n->bias.copy_(in.beta);
  }
  const torch::Tensor x = in.x.contiguous(format).detach().requires_grad_(true);
  ddpm::NormEpilogue e;
  e.scale = leaf(in.scale);
  e.shift = leaf(in.shift);
  e.residual = in.residual.defined() ? leaf(in.residual.contiguous(format)) : torch::Tensor();
  e.gelu = gelu;
  const torch::Tensor out = ddpm::norm_epilogue(x, n, e);
  // Channels-last maps take the fused kernel, plain ones LibTorch's operations.
  const bool fused = out.grad_fn()->name().find("FusedNormEpilogue") != std::string::npos;
  EXPECT_EQ(fused, format == at::MemoryFormat::ChannelsLast) << out.grad_fn()->name();
  EXPECT_EQ(ddpm::channels_last(out), format == at::MemoryFormat::ChannelsLast);
  out.backward(dout);
  const auto grad_of = [](const torch::Tensor& t) { return t.defined() ? t.grad() : t; };
  return {out.detach(), x.grad(),           n->weight.grad(),      n->bias.grad(),
          grad_of(e.scale), grad_of(e.shift), grad_of(e.residual)};
}

TEST(NormEpilogueBackward, MatchesLibTorchsOperations) {
  torch::manual_seed(11);
  for (const Case& c : {Case{1, 1, 32, 32}, Case{2, 1, 96, 16}, Case{3, 1, 64, 8}, Case{2, 1, 128, 4},
                        Case{2, 8, 64, 8}, Case{2, 16, 48, 4}, Case{1, 32, 64, 16}}) {
    const auto x = torch::randn({c.batch, c.channels, c.size, c.size}) * 3 + 20 * torch::rand({c.batch, 1, 1, 1});
    const auto per_image = [&] { return torch::randn({c.batch, c.channels}); };
    const torch::Tensor gamma = torch::rand({c.channels}) + 0.5, beta = torch::rand({c.channels}) - 0.5;
    const Inputs plain{x, gamma, beta, {}, {}, {}};
    const Inputs shift{x, gamma, beta, {}, per_image(), {}};
    const Inputs scale_shift{x, gamma, beta, 0.3 * per_image(), per_image(), {}};
    const Inputs residual{x, gamma, beta, {}, {}, torch::randn_like(x)};
    const Inputs everything{x, gamma, beta, 0.3 * per_image(), per_image(), torch::randn_like(x)};
    const torch::Tensor dout = torch::randn_like(x);
    for (const bool gelu : {false, true}) {
      for (const Inputs* in : {&plain, &shift, &scale_shift, &residual, &everything}) {
        const auto want = run(*in, c.groups, gelu, at::MemoryFormat::Contiguous, dout);
        const auto got = run(*in, c.groups, gelu, at::MemoryFormat::ChannelsLast, dout);
        const char* names[] = {"output", "x", "gamma", "beta", "scale", "shift", "residual"};
        for (size_t i = 0; i < want.size(); ++i) {
          ASSERT_EQ(got[i].defined(), want[i].defined()) << names[i];
          if (!want[i].defined()) continue;
          EXPECT_LT(relative_error(got[i], want[i]), 2e-5)
              << names[i] << " of " << c.batch << "x" << c.channels << "x" << c.size << " groups " << c.groups
              << (gelu ? " gelu" : "") << (in->scale.defined() ? " scale" : "") << (in->shift.defined() ? " shift" : "")
              << (in->residual.defined() ? " residual" : "");
        }
      }
    }
  }
}

// Under bf16 autocast the kernel reads a convolution's bfloat16 output and may write bfloat16:
// the same numbers as LibTorch's operations on the float copy, rounded where the result is
// bfloat16 (the map's gradient, like the map, and the output).
TEST(NormEpilogueBackward, ReadsAndWritesBfloat16) {
  torch::manual_seed(12);
  for (const Case& c : {Case{2, 1, 32, 16}, Case{2, 8, 64, 8}}) {
    const torch::Tensor x16 = (torch::randn({c.batch, c.channels, c.size, c.size}) * 3 + 5).to(torch::kBFloat16);
    const torch::Tensor dout16 = torch::randn_like(x16);
    const torch::Tensor gamma = torch::rand({c.channels}) + 0.5, beta = torch::rand({c.channels}) - 0.5;
    const torch::Tensor shift = torch::randn({c.batch, c.channels}), residual = torch::randn(x16.sizes());
    for (const bool out16 : {false, true}) {
      const auto grads = [&](const torch::Tensor& x_in, const torch::Tensor& dout, at::MemoryFormat f, bool bf16_out) {
        torch::AutoGradMode grad(true);
        torch::nn::GroupNorm n(torch::nn::GroupNormOptions(c.groups, c.channels));
        {
          torch::NoGradGuard no_grad;
          n->weight.copy_(gamma);
          n->bias.copy_(beta);
        }
        const torch::Tensor x = x_in.contiguous(f).detach().requires_grad_(true);
        ddpm::NormEpilogue e;
        e.shift = shift.clone().requires_grad_(true);
        e.residual = residual.contiguous(f).detach().requires_grad_(true);
        e.gelu = true;
        e.bf16_out = bf16_out;
        const torch::Tensor out = ddpm::norm_epilogue(x, n, e);
        EXPECT_EQ(out.scalar_type(), bf16_out ? torch::kBFloat16 : torch::kFloat32);
        EXPECT_EQ(out.grad_fn()->name().find("FusedNormEpilogue") != std::string::npos,
                  f == at::MemoryFormat::ChannelsLast);
        out.backward(dout.to(out.scalar_type()));
        EXPECT_EQ(x.grad().scalar_type(), x.scalar_type());
        return std::vector<torch::Tensor>{out.detach().to(torch::kFloat32), x.grad().to(torch::kFloat32),
                                          n->weight.grad(), n->bias.grad(), e.shift.grad(), e.residual.grad()};
      };
      const auto got = grads(x16, dout16, at::MemoryFormat::ChannelsLast, out16);
      auto want = grads(x16.to(torch::kFloat32), dout16.to(torch::kFloat32), at::MemoryFormat::Contiguous, false);
      if (out16) want[0] = want[0].to(torch::kBFloat16).to(torch::kFloat32);
      const char* names[] = {"output", "x", "gamma", "beta", "shift", "residual"};
      for (size_t i = 0; i < want.size(); ++i) {
        // bfloat16 keeps 8 bits: results rounded to it are within 2^-8 of their magnitude.
        const double tolerance = (i == 0 && out16) || i == 1 ? 8e-3 : 2e-5;
        EXPECT_LT(relative_error(got[i], want[i]), tolerance)
            << names[i] << " of " << c.channels << "x" << c.size << (out16 ? ", bfloat16 out" : "");
      }
    }
  }
}

// A training step's loss gradient for every parameter of each preset, float32 (channels-last
// maps, the fused norms) against the same network in float64 (plain maps, LibTorch's operations).
TEST(NormEpilogueBackward, TrainingGradientsOfEachPresetMatchFloat64) {
  for (const std::string& name : {"sprite32", "sprite32v2"}) {
    torch::manual_seed(5);
    ddpm::UNet m(ddpm::preset_by_name(name, 3));
    {
      // Non-trivial norm affines and embeddings (a fresh GroupNorm is the identity affine).
      torch::NoGradGuard no_grad;
      for (auto& p : m->parameters()) p.add_(0.05 * torch::randn_like(p));
    }
    ddpm::UNet m64(ddpm::preset_by_name(name, 3));
    {
      torch::NoGradGuard no_grad;
      const auto src = m->parameters(), dst = m64->parameters();
      for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    }
    m64->to(torch::kFloat64);
    const torch::Tensor x = torch::randn({3, 4, 32, 32}), target = torch::randn({3, 4, 32, 32});
    const torch::Tensor t = torch::tensor({700, 30, 300}), y = torch::tensor({2, -1, 0});
    torch::mse_loss(m->forward(x, t, y), target).backward();
    torch::mse_loss(m64->forward(x.to(torch::kFloat64), t, y), target.to(torch::kFloat64)).backward();
    const auto got = m->named_parameters(), want = m64->named_parameters();
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_LT(relative_error(got[i].value().grad(), want[i].value().grad().to(torch::kFloat32)), 1e-3)
          << name << " " << got[i].key();
    }
  }
}

}  // namespace
