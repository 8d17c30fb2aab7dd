// bf16 inference: refused by name where the CPU would emulate it; where it runs, a forward
// stays near float32's (tiled too), really differs from it, an image still does not depend on
// its batch, and the block-wise bf16 path equals the per-convolution one of adapted models.
#include <gtest/gtest.h>

#include "ddpm/io/error.h"
#include "ddpm/lora.h"
#include "ddpm/precision.h"
#include "ddpm/runtime.h"
#include "ddpm/unet.h"

namespace {

// Restores float32 however a test ends.
struct Float32After {
  ~Float32After() { ddpm::set_inference_precision(ddpm::Precision::Float32); }
};

TEST(Precision, NamesRoundTripAndUnknownOnesAreNamed) {
  for (auto p : {ddpm::Precision::Float32, ddpm::Precision::BFloat16}) {
    EXPECT_EQ(ddpm::precision_from_string(ddpm::to_string(p)), p);
  }
  try {
    ddpm::precision_from_string("fp8");
    FAIL() << "fp8 accepted";
  } catch (const ddpm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fp8'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ddpm::inference_precision(), ddpm::Precision::Float32);
}

TEST(Precision, Bf16RunsNearFloat32OrIsRefusedByName) {
  Float32After restore;
  if (!ddpm::bf16_native()) {
    EXPECT_THROW(ddpm::set_inference_precision(ddpm::Precision::BFloat16), ddpm::Error);
    EXPECT_EQ(ddpm::inference_precision(), ddpm::Precision::Float32);
    return;
  }
  torch::manual_seed(2);
  ddpm::UNet m(ddpm::preset_by_name("sprite32", 3));
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({3, 4, 32, 32});
  const torch::Tensor t = torch::tensor({900, 400, 20});
  const torch::Tensor y = torch::tensor({0, 2, -1});
  // One intra-op thread a forward, as the plugin runs each part of a batch.
  const int before = ddpm::calling_thread_threads();
  ddpm::set_calling_thread_threads(1);
  const torch::Tensor f32 = m->forward(x, t, y);
  ddpm::set_inference_precision(ddpm::Precision::BFloat16);
  const torch::Tensor bf16 = m->forward(x, t, y);
  const double scale = f32.abs().max().item<double>();
  const auto near = [&](const torch::Tensor& a, const torch::Tensor& b) {
    return (a - b).abs().max().item<double>() < 5e-2 * scale;
  };
  EXPECT_GT((bf16 - f32).abs().max().item<double>(), 1e-5 * scale) << "bf16 convolutions were not used";
  EXPECT_TRUE(near(bf16, f32));
  // Alone or in the batch: the same numbers.
  EXPECT_TRUE(torch::equal(m->forward(x.narrow(0, 1, 1), t.narrow(0, 1, 1), y.narrow(0, 1, 1)), bf16.narrow(0, 1, 1)));
  // Two threads on one forward split oneDNN's bf16 sums differently (~1e-2 of the scale).
  ddpm::set_calling_thread_threads(2);
  EXPECT_TRUE(near(m->forward(x, t, y), bf16));
  ddpm::set_calling_thread_threads(1);
  // Seamless tiling (circular padding of the bfloat16 maps) stays near float32's too.
  ddpm::set_inference_precision(ddpm::Precision::Float32);
  const torch::Tensor tiled = m->forward(x, t, y, true);
  ddpm::set_inference_precision(ddpm::Precision::BFloat16);
  EXPECT_TRUE(near(m->forward(x, t, y, true), tiled));
  EXPECT_FALSE(torch::equal(m->forward(x, t, y, true), bf16)) << "tiling was not applied";
  // A model with adapters converts around each convolution instead of once a block: with a
  // zero adapter (its up projection starts at zero) the two bf16 paths give the same numbers.
  {
    at::Generator gen = at::detail::createCPUGenerator(1);
    ddpm::LoraAdapter lora(m, 4, gen);
    EXPECT_TRUE(torch::equal(m->forward(x, t, y), bf16));
  }
  // And back: float32 takes its own kept weights again.
  ddpm::set_inference_precision(ddpm::Precision::Float32);
  EXPECT_TRUE(torch::equal(m->forward(x, t, y), f32));
  ddpm::set_calling_thread_threads(before);
}

}  // namespace
