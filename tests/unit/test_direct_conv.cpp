// The direct channels-last convolutions of CPU inference (direct_conv.h) against a float64
// reference, for float32 and bfloat16 maps at the presets' shapes; that an image gets the same
// bits alone, in a batch and on any thread count; that a changed weight is seen; and that what
// the class does not take is left to LibTorch's path.
#include <gtest/gtest.h>

#include "ddpm/precision.h"
#include "ddpm/runtime.h"
#include "direct_conv.h"

namespace {

torch::Tensor nhwc(const torch::Tensor& t) { return t.contiguous(at::MemoryFormat::ChannelsLast); }

// Where oneDNN has an optimised kernel for the type on this CPU (elsewhere run() may decline, and
// LibTorch's path serves): float32 from AVX2 on, bfloat16 where the CPU multiplies it natively.
bool has_kernel(torch::ScalarType type) {
  return type == torch::kFloat32 ? __builtin_cpu_supports("avx2") : ddpm::bf16_native();
}

// conv2d in float64 of the values the kernel sees (bf16 maps: the weight rounded to bfloat16 too).
torch::Tensor reference(const torch::Tensor& x, const torch::Tensor& w, int64_t pad) {
  const torch::Tensor wr = w.to(x.scalar_type()).to(torch::kFloat64);
  return torch::conv2d(x.to(torch::kFloat64), wr, {}, 1, pad);
}

TEST(DirectConv, MatchesAFloat64ConvolutionAndKeepsChannelsLast) {
  if (!ddpm::DirectConv::available()) GTEST_SKIP() << "built without oneDNN's headers";
  torch::manual_seed(11);
  torch::NoGradGuard no_grad;
  struct Case {
    int batch, in, out, size, pad;
  };
  for (const Case& c : {Case{2, 3, 32, 32, 1}, Case{3, 64, 64, 32, 1}, Case{1, 128, 128, 8, 1},
                        Case{2, 192, 96, 16, 1}, Case{4, 128, 64, 4, 1}, Case{1, 32, 32, 18, 0}}) {
    const torch::Tensor w = torch::randn({c.out, c.in, 3, 3}) / std::sqrt(9.0 * c.in);
    for (const auto type : {torch::kFloat32, torch::kBFloat16}) {
      ddpm::DirectConv conv;
      const torch::Tensor x = nhwc(torch::randn({c.batch, c.in, c.size, c.size}).to(type));
      const auto got = conv.run(x, w, c.pad);
      if (!has_kernel(type) && !got) continue;
      ASSERT_TRUE(got.has_value()) << c.in << "->" << c.out << " " << c10::toString(type);
      EXPECT_TRUE(ddpm::channels_last(*got));
      EXPECT_EQ(got->scalar_type(), type);
      const torch::Tensor want = reference(x, w, c.pad);
      ASSERT_EQ(got->sizes(), want.sizes());
      // float32: accumulation order only; bfloat16: the result's own rounding (2^-8 relative).
      const double tol = type == torch::kFloat32 ? 1e-5 : 1e-2;
      const double err = ((got->to(torch::kFloat64) - want).abs() / (1 + want.abs())).max().item<double>();
      EXPECT_LT(err, tol) << c.in << "->" << c.out << " at " << c.size << " " << c10::toString(type);
    }
  }
}

TEST(DirectConv, AnImageGetsTheSameBitsAloneInABatchAndOnAnyThreadCount) {
  if (!ddpm::DirectConv::available()) GTEST_SKIP() << "built without oneDNN's headers";
  torch::manual_seed(12);
  torch::NoGradGuard no_grad;
  const torch::Tensor w = torch::randn({64, 64, 3, 3}) * 0.05;
  for (const auto type : {torch::kFloat32, torch::kBFloat16}) {
    ddpm::DirectConv conv;
    const torch::Tensor x = nhwc(torch::randn({6, 64, 32, 32}).to(type));
    const auto whole = conv.run(x, w, 1);
    if (!has_kernel(type) && !whole) continue;
    ASSERT_TRUE(whole.has_value()) << c10::toString(type);
    const torch::Tensor batch = *whole;
    EXPECT_TRUE(torch::equal(*conv.run(nhwc(x.narrow(0, 4, 1)), w, 1), batch.narrow(0, 4, 1)));
    EXPECT_TRUE(torch::equal(*conv.run(nhwc(x.narrow(0, 1, 3)), w, 1), batch.narrow(0, 1, 3)));
    const int before = ddpm::calling_thread_threads();
    for (int threads : {1, 2, 3}) {
      ddpm::set_calling_thread_threads(threads);
      EXPECT_TRUE(torch::equal(*conv.run(x, w, 1), batch)) << threads << " threads";
    }
    ddpm::set_calling_thread_threads(before);
  }
}

TEST(DirectConv, SeesAChangedWeightAndLeavesOtherInputsToLibTorch) {
  if (!ddpm::DirectConv::available()) GTEST_SKIP() << "built without oneDNN's headers";
  torch::manual_seed(13);
  torch::NoGradGuard no_grad;
  if (!has_kernel(torch::kFloat32)) GTEST_SKIP() << "no optimised float32 kernel on this CPU";
  ddpm::DirectConv conv;
  torch::Tensor w = torch::randn({32, 32, 3, 3}) * 0.1;
  const torch::Tensor x = nhwc(torch::randn({2, 32, 16, 16}));
  const torch::Tensor before = *conv.run(x, w, 1);
  w.mul_(2);  // an in-place update (EMA, loading) moves the version counter
  EXPECT_TRUE(torch::allclose(*conv.run(x, w, 1), 2 * before, 1e-5, 1e-5));
  const torch::Tensor w2 = torch::randn({32, 32, 3, 3});  // a new tensor
  EXPECT_LT((*conv.run(x, w2, 1) - reference(x, w2, 1)).abs().max().item<double>(), 1e-4);
  // A split forward's parts come in many batch sizes: they share the reordered weight.
  for (int64_t b = 1; b <= 8; ++b) ASSERT_TRUE(conv.run(nhwc(torch::randn({b, 32, 16, 16})), w2, 1).has_value());
  EXPECT_LE(conv.weight_copies(), 1u);
  // Plain maps, other types and mismatched weights: not taken.
  EXPECT_FALSE(conv.run(x.contiguous(), w, 1).has_value());
  EXPECT_FALSE(conv.run(x.to(torch::kFloat64), w, 1).has_value());
  EXPECT_FALSE(conv.run(x, torch::randn({32, 16, 3, 3}), 1).has_value());
}

}  // namespace
