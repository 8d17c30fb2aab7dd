// The UNet: the seed64 preset against the reference's state_dict, shapes for every preset and
// channel count, the time encoding's closed form, conditioning, and the attention paths.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "ddpm/io/error.h"
#include "ddpm/runtime.h"
#include "ddpm/unet.h"

namespace {

std::string shape_str(const torch::Tensor& t) {
  std::string s;
  for (int64_t d : t.sizes()) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

// A quick model with the same topology rules, for tests that need many forward passes.
ddpm::UNetConfig small(int channels, int classes) {
  ddpm::UNetConfig c;
  c.in_channels = c.out_channels = channels;
  c.image_size = 16;
  c.base_channels = 8;
  c.channel_mult = {1, 2, 2};
  c.attention_resolutions = {4, 8};
  c.time_dim = 32;
  c.num_classes = classes;
  return c;
}

TEST(UNet, Seed64MatchesTheReferenceStateDict) {
  ddpm::UNet m(ddpm::preset_seed64(10));
  EXPECT_EQ(m->parameter_count(), 23335299);
  // Written by tests/fixtures/reference_unet.py --names from the PyTorch reference.
  std::ifstream f(DDPM_SOURCE_DIR "/tests/fixtures/seed64_state_dict.txt");
  ASSERT_TRUE(f) << "fixture missing";
  std::map<std::string, std::string> expected;
  std::string name, shape;
  while (f >> name >> shape) expected[name] = shape;
  ASSERT_EQ(expected.size(), 183u);
  std::map<std::string, std::string> got;
  for (const auto& p : m->named_parameters()) got[p.key()] = shape_str(p.value());
  for (const auto& b : m->named_buffers()) got[b.key()] = shape_str(b.value());
  EXPECT_EQ(got, expected);

  ddpm::UNet unconditional(ddpm::preset_seed64(0));
  EXPECT_EQ(unconditional->parameter_count(), 23335299 - 10 * 256);
}

TEST(UNet, ForwardShapesForEveryPresetAndChannelCount) {
  ddpm::init_runtime();
  torch::NoGradGuard ng;
  for (int ch : {1, 3, 4}) {
    ddpm::UNet m(small(ch, 3));
    const torch::Tensor x = torch::randn({2, ch, 16, 16});
    const torch::Tensor out = m->forward(x, torch::tensor({5, 700}), torch::tensor({0, -1}));
    EXPECT_EQ(out.sizes(), x.sizes()) << "channels " << ch;
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  }
  for (const auto& name : ddpm::preset_names()) {
    ddpm::UNet m(ddpm::preset_by_name(name, 10));
    const auto& c = m->config();
    const torch::Tensor x = torch::randn({1, c.in_channels, c.image_size, c.image_size});
    EXPECT_EQ(m->forward(x, torch::tensor({999}), torch::tensor({3}))
                  .sizes(), x.sizes()) << name;
  }
  ddpm::UNetConfig c = ddpm::preset_sprite32(0);
  EXPECT_LT(ddpm::UNet(c)->parameter_count(), 5'000'000);  // small enough for realtime CPU use
  c.image_size = 64;  // any multiple of 2^levels works, unlike the reference's fixed 64
  const torch::Tensor x = torch::randn({1, 4, 64, 64});
  EXPECT_EQ(ddpm::UNet(c)->forward(x, torch::tensor({1})).sizes(), x.sizes());
}

TEST(UNet, TimeEncodingIsSinusoidal) {
  ddpm::UNet m(small(3, 0));
  const torch::Tensor e = m->time_encoding(torch::tensor({0, 7, 999}));
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{3, 32}));
  for (int64_t r = 0; r < 3; ++r) {
    const double t = std::vector<double>{0, 7, 999}[r];
    for (int i = 0; i < 16; ++i) {
      const double freq = 1.0 / std::pow(10000.0, 2.0 * i / 32);
      EXPECT_NEAR(e[r][i].item<double>(), std::sin(t * freq), 2e-4);
      EXPECT_NEAR(e[r][16 + i].item<double>(), std::cos(t * freq), 2e-4);
    }
  }
}

TEST(UNet, ClassConditioning) {
  torch::NoGradGuard ng;
  torch::manual_seed(4);
  ddpm::UNet m(small(3, 3));
  m->eval();
  const torch::Tensor x = torch::randn({1, 3, 16, 16});
  const torch::Tensor t = torch::tensor({300});
  // Label -1 ("no class") is exactly the unconditional branch.
  EXPECT_TRUE(torch::equal(m->forward(x, t, torch::tensor({-1})), m->forward(x, t)));
  EXPECT_GT((m->forward(x, t, torch::tensor({0})) - m->forward(x, t, torch::tensor({1})))
                .abs().max().item<double>(), 1e-3);
}

// CPU inference keeps each convolution weight in oneDNN's layout (core/src/packed_conv.h): the
// kept copy must follow the weights, whether changed in place (an optimizer step, loading) or
// replaced, plain and tiled. The reference is the same forward with gradients on (LibTorch's
// own convolution, which packs nothing).
TEST(UNet, KeptConvolutionWeightsFollowTheWeights) {
  torch::manual_seed(6);
  ddpm::UNet m(small(3, 2));
  const torch::Tensor x = torch::randn({2, 3, 16, 16});
  const torch::Tensor t = torch::tensor({300, 40});
  const torch::Tensor y = torch::tensor({0, 1});
  const auto difference = [&](bool tiling) {
    const torch::Tensor reference = m->forward(x, t, y, tiling).detach();
    torch::NoGradGuard no_grad;
    return (m->forward(x, t, y, tiling) - reference).abs().max().item<double>();
  };
  // Each change comes between two forwards of the same padding (a change of padding alone
  // makes a new copy).
  EXPECT_LT(difference(true), 1e-4);
  EXPECT_LT(difference(false), 1e-4);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : m->parameters()) {
      if (p.dim() == 4) p.mul_(-1.5);  // in place: the same storage, a new version
    }
  }
  EXPECT_LT(difference(false), 1e-4);
  EXPECT_LT(difference(true), 1e-4);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : m->parameters()) {
      if (p.dim() == 4) p.set_data(torch::randn_like(p));  // new storage
    }
  }
  EXPECT_LT(difference(true), 1e-4);
  EXPECT_LT(difference(false), 1e-4);
}

TEST(UNet, AttentionPathsEqualTheFullMatrixInFloat64) {
  // The reference: the same weights in float64, where attention is LibTorch's full
  // softmax(q k^T) v. In float32, head width 8 takes the fused kernels (with autograd: the
  // fused backward's node), head width 2 (no kernel for it) LibTorch's products, over query
  // chunks without autograd: 1024 tokens at full resolution in a batch of 2 make two chunks.
  for (int width : {32, 8}) {
    torch::manual_seed(5);
    ddpm::UNetConfig c = small(3, 0);
    c.image_size = 32;
    c.base_channels = width;
    c.channel_mult = {1, 1};
    c.attention_resolutions = {32, 16};
    ddpm::UNet m(c);
    const torch::Tensor x = torch::randn({2, 3, 32, 32});
    const torch::Tensor t = torch::tensor({10, 900});
    const torch::Tensor trained = m->forward(x, t).detach();  // grad mode
    torch::Tensor streamed;
    {
      torch::NoGradGuard ng;
      streamed = m->forward(x, t);
    }
    m->to(torch::kDouble);
    const torch::Tensor full = m->forward(x.to(torch::kDouble), t).detach();
    // float32 rounding measured 2e-6 to 4e-6 on outputs of size ~1.
    EXPECT_LT((full - streamed).abs().max().item<double>(), 2e-5) << "base width " << width;
    EXPECT_LT((full - trained).abs().max().item<double>(), 2e-5) << "base width " << width;
  }
}

TEST(UNet, BadConfigsAndInputsNameTheValue) {
  const auto message = [](const ddpm::UNetConfig& c) {
    try {
      ddpm::UNet m(c);
    } catch (const ddpm::Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  ddpm::UNetConfig c = small(3, 0);
  c.in_channels = 2;
  EXPECT_NE(message(c).find("in_channels' = 2"), std::string::npos) << message(c);
  c = small(3, 0);
  c.image_size = 18;  // two levels: needs a multiple of 4
  EXPECT_NE(message(c).find("multiple of 4"), std::string::npos) << message(c);
  c = small(3, 0);
  c.image_size = 0;
  EXPECT_NE(message(c).find("image_size' = 0"), std::string::npos) << message(c);
  EXPECT_THROW(ddpm::preset_by_name("huge", 0), ddpm::Error);

  ddpm::UNet m(small(3, 3));
  torch::NoGradGuard ng;
  const torch::Tensor x = torch::randn({1, 3, 16, 16});
  try {
    m->forward(x, torch::tensor({1}), torch::tensor({3}));
    FAIL() << "class 3 of 3 accepted";
  } catch (const ddpm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("class index 3 is out of range: allowed -1 (none) to 2"),
              std::string::npos) << e.what();
  }
  EXPECT_THROW(m->forward(torch::randn({1, 3, 8, 8}), torch::tensor({1})), ddpm::Error);
  EXPECT_THROW(ddpm::UNet(small(3, 0))->forward(x, torch::tensor({1}), torch::tensor({0})),
               ddpm::Error);
}

}  // namespace

namespace {

// The measurement of the reference at 64x64, batch 1: 18.7 GFLOP (12.8 convolutions,
// 5.7 attention); the count from the layer shapes must agree.
TEST(UNet, ForwardFlopsOfSeed64MatchTheMeasuredCount) {
  const double f = ddpm::preset_seed64(10).forward_flops(1);
  std::printf("seed64 forward: %.2f GFLOP\n", f / 1e9);
  EXPECT_NEAR(f / 1e9, 18.7, 0.6);
  EXPECT_DOUBLE_EQ(ddpm::preset_seed64(10).forward_flops(2), 2 * f);
}

}  // namespace
