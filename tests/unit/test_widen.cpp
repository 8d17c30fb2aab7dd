// A model widened to twice its width (ddpm/widen.h) computes what the narrow one did, for the
// reference blocks and the scale-shift ones with GroupNorm(8), with and without classes, and
// its channel copies start apart so that training can separate them.
#include <gtest/gtest.h>

#include "ddpm/io/error.h"
#include "ddpm/widen.h"
#include "random_model.h"

namespace {

using ddpm::testing::random_model;
using ddpm::testing::tiny_info;

// random_model's weights (0.1 each) leave attention's scores near 0, where its softmax is flat
// whatever their scale: gains of 1 and larger projections give it scores of order 1.
ddpm::Model with_sharp_attention(ddpm::Model m) {
  torch::NoGradGuard no_grad;
  for (auto& item : m.unet->named_parameters()) {
    if (item.key() == "sa1.ln.weight") item.value().fill_(1);
    if (item.key() == "sa1.mha.in_proj_weight") item.value().mul_(4);
  }
  return m;
}

// The two models' predictions in float64 on the same noisy images, timesteps and labels.
double largest_difference(ddpm::Model a, ddpm::Model b, int num_classes) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({4, 4, 16, 16}, torch::kFloat64);
  const torch::Tensor t = torch::tensor({0, 17, 50, 99}, torch::kLong);
  const torch::Tensor y = num_classes > 0 ? torch::tensor({0, 1, -1, 2}, torch::kLong) : torch::Tensor();
  a.unet->to(torch::kFloat64);
  b.unet->to(torch::kFloat64);
  const torch::Tensor pa = a.unet->forward(x, t, y), pb = b.unet->forward(x, t, y);
  EXPECT_GT(pa.abs().max().item<double>(), 0.1);  // a real prediction, not a zero map
  return (pa - pb).abs().max().item<double>();
}

TEST(Widen, ComputesWhatTheNarrowModelComputed) {
  ddpm::Model narrow = with_sharp_attention(random_model(tiny_info({"a", "b", "c"}), 1));
  ddpm::Model wide = ddpm::widen_model(narrow, 7);
  EXPECT_EQ(wide.info.unet.base_channels, 2 * narrow.info.unet.base_channels);
  EXPECT_EQ(wide.info.unet.preset, "tiny16-w32");
  EXPECT_EQ(wide.info.class_names, narrow.info.class_names);
  // Every channel dimension doubles: about four times the weights.
  EXPECT_GT(wide.unet->parameter_count(), 3.5 * narrow.unet->parameter_count());
  EXPECT_LT(largest_difference(narrow, wide, 3), 1e-6);  // the float32 rounding of split weights
}

TEST(Widen, KeepsTheFunctionOfScaleShiftBlocksAndOfUnconditionalModels) {
  ddpm::io::ModelInfo info = tiny_info({});
  info.unet.norm_groups = 8;
  info.unet.scale_shift = true;
  ddpm::Model narrow = with_sharp_attention(random_model(info, 2));
  EXPECT_LT(largest_difference(narrow, ddpm::widen_model(narrow, 7), 0), 1e-6);
}

TEST(Widen, SplitsEveryInputWeightUnevenlyAndDependsOnTheSeed) {
  const ddpm::Model narrow = random_model(tiny_info({"a", "b"}), 1);
  const ddpm::Model wide = ddpm::widen_model(narrow, 7), again = ddpm::widen_model(narrow, 7),
                    other = ddpm::widen_model(narrow, 8);
  const auto w = ddpm::state_dict(*wide.unet);
  const torch::Tensor conv = w.at("up1.conv.0.double_conv.3.weight");  // [2O, 2I, 3, 3]
  const torch::Tensor even = conv.slice(1, 0, conv.size(1), 2), odd = conv.slice(1, 1, conv.size(1), 2);
  // The copies of an input get different weights, which together are the narrow weight.
  EXPECT_GT((even - odd).abs().min().item<double>(), 0);
  const torch::Tensor narrow_conv = ddpm::state_dict(*narrow.unet).at("up1.conv.0.double_conv.3.weight");
  EXPECT_TRUE(torch::allclose((even + odd).slice(0, 0, conv.size(0), 2), narrow_conv, 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(conv, ddpm::state_dict(*again.unet).at("up1.conv.0.double_conv.3.weight")));
  EXPECT_FALSE(torch::equal(conv, ddpm::state_dict(*other.unet).at("up1.conv.0.double_conv.3.weight")));
}

TEST(Widen, RefusesAWidthPastTheArchitecturesLimit) {
  ddpm::Model narrow = random_model(tiny_info({"a"}), 1);
  narrow.info.unet.base_channels = 1024;  // checked before any weight is made
  try {
    ddpm::widen_model(narrow, 1);
    FAIL() << "a width of 2048 was accepted";
  } catch (const ddpm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("base_channels"), std::string::npos) << e.what();
  }
}

}  // namespace
