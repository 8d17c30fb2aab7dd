// bf16 inference: refused by name where the CPU would emulate it; where it runs, a forward
// stays near float32's (tiled too), really differs from it, an image still does not depend on
// its batch, and the block-wise bf16 path equals the per-convolution one of adapted models.
#include <gtest/gtest.h>

#include "ddpm/guidance.h"
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
  // "auto" is bf16 exactly where this CPU multiplies bfloat16 natively, and always settable.
  const auto automatic = ddpm::bf16_native() ? ddpm::Precision::BFloat16 : ddpm::Precision::Float32;
  EXPECT_EQ(ddpm::precision_from_string("auto"), automatic);
  EXPECT_EQ(ddpm::automatic_precision(), automatic);
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

// A guided batch of 12 is one forward of 24 images on a one-core budget (an 8-stage stream is 16),
// where Debian's oneDNN picks another bf16 kernel than for a few images: each image must still
// come out as it does alone (the stream's frame is its seed's job image).
TEST(Precision, Bf16ImageDoesNotDependOnItsBatch) {
  if (!ddpm::bf16_native()) GTEST_SKIP() << "this CPU has no native bfloat16 products";
  Float32After restore;
  torch::manual_seed(3);
  ddpm::UNet m(ddpm::preset_by_name("sprite32", 3));
  m->eval();
  c10::InferenceMode inference;
  const int before = ddpm::calling_thread_budget();
  ddpm::set_calling_thread_budget(1);
  ddpm::set_inference_precision(ddpm::Precision::BFloat16);
  const int64_t n = 12;
  const torch::Tensor x = torch::randn({n, 4, 32, 32});
  const torch::Tensor t = torch::randint(0, 1000, {n}, torch::kLong);
  std::vector<int64_t> classes(n);
  for (int64_t i = 0; i < n; ++i) classes[i] = i % 3;
  const torch::Tensor batch = ddpm::predict_noise(m, x, t, classes, std::vector<float>(n, 3.0f));
  for (int64_t i = 0; i < n; ++i) {
    const torch::Tensor alone = ddpm::predict_noise(m, x.narrow(0, i, 1), t.narrow(0, i, 1), {classes[i]}, {3.0f});
    EXPECT_TRUE(torch::equal(alone, batch.narrow(0, i, 1)))
        << "image " << i << ": max difference " << (alone - batch.narrow(0, i, 1)).abs().max().item<float>();
  }
  ddpm::set_calling_thread_budget(before);
}

}  // namespace
