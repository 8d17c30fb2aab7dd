// The fused GroupNorm + epilogue kernel against LibTorch's separate operations (the training
// path), at every map size and channel width of the presets, with every epilogue the blocks
// use; that an image gets the same numbers alone, in a batch and on any thread count; GELU's
// closed form.
#include <gtest/gtest.h>

#include <cmath>

#include "ddpm/io/error.h"
#include "ddpm/runtime.h"
#include "ddpm/unet.h"
#include "direct_conv.h"
#include "norm_epilogue.h"

namespace {

torch::nn::GroupNorm make_norm(int groups, int channels) {
  torch::nn::GroupNorm n(torch::nn::GroupNormOptions(groups, channels));
  torch::NoGradGuard no_grad;
  n->weight.uniform_(0.5, 1.5);
  n->bias.uniform_(-0.5, 0.5);
  return n;
}

struct Case {
  int batch, groups, channels, size;
};

// A map of the case's shape whose mean is far from zero in some images: the variance must not
// come from E[x^2] - E[x]^2.
torch::Tensor map_of(const Case& c) {
  return torch::randn({c.batch, c.channels, c.size, c.size}) * 3 + 40 * torch::rand({c.batch, 1, 1, 1});
}

// LibTorch's operations: what the blocks compute in grad mode.
torch::Tensor reference(const torch::Tensor& x, torch::nn::GroupNorm& n, const ddpm::NormEpilogue& e) {
  torch::AutoGradMode grad(true);
  return ddpm::norm_epilogue(x, n, e).detach();
}

TEST(NormEpilogue, MatchesLibTorchsOperations) {
  torch::manual_seed(3);
  for (const Case& c : {Case{1, 1, 32, 32}, Case{2, 1, 96, 32}, Case{3, 1, 64, 8}, Case{2, 1, 128, 4},
                        Case{2, 32, 64, 16}, Case{1, 8, 48, 8}, Case{2, 4, 8, 64}}) {
    const torch::Tensor x = map_of(c);
    torch::nn::GroupNorm n = make_norm(c.groups, c.channels);
    ddpm::NormEpilogue act, res, shift, scale_shift;
    act.gelu = true;
    res.residual = torch::randn_like(x);
    res.gelu = true;
    shift.shift = torch::randn({c.batch, c.channels});
    scale_shift.scale = 0.3 * torch::randn({c.batch, c.channels});
    scale_shift.shift = torch::randn({c.batch, c.channels});
    for (const ddpm::NormEpilogue& e : {ddpm::NormEpilogue{}, act, res, shift, scale_shift}) {
      torch::NoGradGuard no_grad;
      const torch::Tensor want = reference(x, n, e);
      const torch::Tensor got = ddpm::fused_norm_epilogue(x, n, e);
      const double err = ((got - want).abs() / (1 + want.abs())).max().item<double>();
      EXPECT_LT(err, 4e-6) << c.batch << "x" << c.channels << "x" << c.size << " groups " << c.groups
                           << (e.gelu ? " gelu" : "") << (e.residual.defined() ? " residual" : "")
                           << (e.scale.defined() ? " scale" : "") << (e.shift.defined() ? " shift" : "");
      // The dispatcher picks the kernel for these maps.
      EXPECT_TRUE(torch::equal(ddpm::norm_epilogue(x, n, e), got));
    }
  }
}

// bf16 inference: a bfloat16 convolution output read directly, and a bfloat16 result for the
// next convolution, rounded exactly as LibTorch rounds a float to bfloat16.
TEST(NormEpilogue, ReadsAndWritesBfloat16) {
  torch::manual_seed(9);
  for (int size : {32, 8, 4}) {
    const torch::Tensor x = torch::randn({2, 64, size, size}) * 2 + 1;
    torch::nn::GroupNorm n = make_norm(1, 64);
    ddpm::NormEpilogue e;
    e.gelu = true;
    e.residual = torch::randn_like(x);
    torch::NoGradGuard no_grad;
    const torch::Tensor xb = x.to(torch::kBFloat16);
    // bfloat16 in: the same as its exact float widening.
    EXPECT_TRUE(torch::equal(ddpm::fused_norm_epilogue(xb, n, e), ddpm::fused_norm_epilogue(xb.to(torch::kFloat32), n, e)));
    // bfloat16 out: the float result rounded to nearest even, bit for bit.
    ddpm::NormEpilogue eb = e;
    eb.bf16_out = true;
    const torch::Tensor out = ddpm::fused_norm_epilogue(x, n, eb);
    EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(torch::equal(out, ddpm::fused_norm_epilogue(x, n, e).to(torch::kBFloat16))) << size;
    // The fallback (a map of a size the kernel does not take) keeps the same contract.
    const torch::Tensor odd = torch::randn({1, 64, 6, 6}).to(torch::kBFloat16);
    ddpm::NormEpilogue plain;
    plain.bf16_out = true;
    EXPECT_TRUE(torch::equal(ddpm::norm_epilogue(odd, n, plain), n(odd.to(torch::kFloat32)).to(torch::kBFloat16)));
  }
}

TEST(NormEpilogue, AnImageGetsTheSameNumbersAloneInABatchAndOnAnyThreadCount) {
  torch::manual_seed(4);
  torch::nn::GroupNorm n = make_norm(1, 64);
  torch::NoGradGuard no_grad;
  // Plain maps, and channels-last ones (their kernel sums chunks of pixels in a fixed order).
  for (const auto format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
    const torch::Tensor x = torch::randn({6, 64, 32, 32}).contiguous(format);
    ddpm::NormEpilogue e;
    e.gelu = true;
    e.residual = torch::randn_like(x);
    const torch::Tensor batch = ddpm::fused_norm_epilogue(x, n, e);
    ddpm::NormEpilogue one = e;
    one.residual = e.residual.narrow(0, 4, 1);
    EXPECT_TRUE(torch::equal(ddpm::fused_norm_epilogue(x.narrow(0, 4, 1), n, one), batch.narrow(0, 4, 1)));
    const int before = ddpm::calling_thread_threads();
    for (int threads : {1, 2, 3}) {
      ddpm::set_calling_thread_threads(threads);
      EXPECT_TRUE(torch::equal(ddpm::fused_norm_epilogue(x, n, e), batch)) << threads << " threads";
    }
    ddpm::set_calling_thread_threads(before);
  }
}

// Channels-last maps (the direct convolutions' layout): the plain kernel's numbers to float
// rounding, and the layout kept.
TEST(NormEpilogue, ChannelsLastMapsGiveThePlainKernelsNumbers) {
  torch::manual_seed(8);
  for (const Case& c : {Case{1, 1, 32, 32}, Case{2, 1, 96, 32}, Case{3, 1, 64, 8}, Case{2, 1, 128, 4},
                        Case{2, 32, 64, 16}, Case{1, 8, 48, 8}, Case{2, 16, 32, 12}}) {
    const torch::Tensor x = map_of(c);
    const torch::Tensor xl = x.contiguous(at::MemoryFormat::ChannelsLast);
    torch::nn::GroupNorm n = make_norm(c.groups, c.channels);
    ddpm::NormEpilogue act, res, scale_shift, bf16;
    act.gelu = true;
    res.residual = torch::randn_like(x);
    res.gelu = true;
    scale_shift.scale = 0.3 * torch::randn({c.batch, c.channels});
    scale_shift.shift = torch::randn({c.batch, c.channels});
    bf16.gelu = true;
    bf16.bf16_out = true;
    for (const ddpm::NormEpilogue& e : {act, res, scale_shift, bf16}) {
      torch::NoGradGuard no_grad;
      const torch::Tensor got = ddpm::norm_epilogue(xl, n, e);
      EXPECT_TRUE(ddpm::channels_last(got)) << c.channels << "x" << c.size;
      const torch::Tensor want = ddpm::fused_norm_epilogue(x, n, e).to(torch::kFloat32);
      const double err = ((got.to(torch::kFloat32) - want).abs() / (1 + want.abs())).max().item<double>();
      EXPECT_LT(err, e.bf16_out ? 8e-3 : 8e-6) << c.batch << "x" << c.channels << "x" << c.size << " groups " << c.groups;
    }
  }
}

TEST(NormEpilogue, GeluMatchesItsClosedForm) {
  // A map of zeros normalises to 0 and the bias sets the value GELU sees: each run tests
  // gelu(bias) against x * Phi(x).
  torch::nn::GroupNorm n = make_norm(1, 1);
  ddpm::NormEpilogue e;
  e.gelu = true;
  for (double v : {-12.0, -8.0, -5.0, -2.0, -0.7, 0.0, 0.3, 1.0, 3.0, 9.0}) {
    torch::NoGradGuard no_grad;
    n->bias.fill_(v);
    const double got = ddpm::fused_norm_epilogue(torch::zeros({1, 1, 4, 4}), n, e)[0][0][0][0].item<double>();
    const double want = v * 0.5 * std::erfc(-v / std::sqrt(2.0));
    EXPECT_NEAR(got, want, 2e-7 * std::max(1.0, std::abs(v))) << v;
  }
}

TEST(NormEpilogue, OtherInputsTakeLibTorchsOperationsOrANamedError) {
  torch::manual_seed(5);
  torch::nn::GroupNorm n = make_norm(2, 8);
  ddpm::NormEpilogue e;
  e.gelu = true;
  torch::NoGradGuard no_grad;
  // A 6x6 map (not a multiple of 16 pixels) and a float64 copy fall back to LibTorch.
  const torch::Tensor odd = torch::randn({2, 8, 6, 6});
  EXPECT_TRUE(torch::allclose(ddpm::norm_epilogue(odd, n, e), torch::gelu(n(odd))));
  EXPECT_THROW(ddpm::fused_norm_epilogue(odd, n, e), ddpm::Error);
  n->to(torch::kFloat64);
  const torch::Tensor wide = torch::randn({2, 8, 4, 4}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(ddpm::norm_epilogue(wide, n, e), torch::gelu(n(wide))));
  EXPECT_THROW(ddpm::fused_norm_epilogue(wide, n, e), ddpm::Error);
}

}  // namespace

namespace {

// The blocks' wiring: a whole forward without gradients (the kernel, the embedding inside the
// second norm's pass) against the same forward with them (LibTorch's operations), for the
// presets' two block styles: GroupNorm(1) with an added embedding, GroupNorm(8) with scale-shift.
TEST(NormEpilogue, InferenceForwardOfEachPresetMatchesTheTrainingForward) {
  for (const std::string& name : {"sprite32", "sprite32v2"}) {
    torch::manual_seed(8);
    ddpm::UNet m(ddpm::preset_by_name(name, 3));
    {
      // Non-trivial norm parameters and embeddings (a fresh GroupNorm is the identity affine).
      torch::NoGradGuard no_grad;
      for (auto& item : m->named_parameters()) {
        const std::string& key = item.key();
        torch::Tensor& p = item.value();
        if (key.find("double_conv.1") != std::string::npos || key.find("double_conv.4") != std::string::npos ||
            key.find("emb_layer") != std::string::npos) {
          p.add_(0.2 * torch::randn_like(p));
        }
      }
    }
    const torch::Tensor x = torch::randn({2, 4, 32, 32});
    const torch::Tensor t = torch::tensor({700, 30});
    const torch::Tensor y = torch::tensor({2, -1});
    const torch::Tensor training = m->forward(x, t, y).detach();
    torch::NoGradGuard no_grad;
    const torch::Tensor inference = m->forward(x, t, y);
    EXPECT_LT((inference - training).abs().max().item<double>(), 1e-4 * (1 + training.abs().max().item<double>()))
        << name;
  }
}

}  // namespace
