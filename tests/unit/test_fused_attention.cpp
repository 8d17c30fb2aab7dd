// The fused attention kernel against softmax(q k^T * scale) v computed by LibTorch in float64:
// every head width it supports, token counts that leave partial query and key blocks, several
// batches and heads, and scores large enough that an unshifted exponential would overflow.
#include <gtest/gtest.h>

#include <cmath>

#include "fused_attention.h"

namespace {

// softmax(q k^T * scale) v by LibTorch's products, in the given precision.
torch::Tensor reference(const torch::Tensor& qkv, const ddpm::AttentionShape& s, double scale,
                        torch::ScalarType dtype) {
  const int64_t d = s.channels / s.heads;
  const torch::Tensor x = qkv.to(dtype);
  const auto head = [&](int64_t i) {
    return x.narrow(2, i * s.channels, s.channels).view({s.batch, s.tokens, s.heads, d}).transpose(1, 2);
  };
  const torch::Tensor p = torch::softmax(torch::matmul(head(0) * scale, head(1).transpose(2, 3)), -1);
  return torch::matmul(p, head(2)).transpose(1, 2).reshape({s.batch, s.tokens, s.channels}).to(torch::kDouble);
}

struct Errors {
  double fused;    // the kernel against float64
  double library;  // LibTorch in float32 against float64: what float32 arithmetic allows here
};

Errors errors(const ddpm::AttentionShape& s, double input_scale) {
  const int64_t d = s.channels / s.heads;
  const torch::Tensor qkv = torch::randn({s.batch, s.tokens, 3 * s.channels}) * input_scale;
  // NaN survives in `out` only where the kernel wrote nothing.
  torch::Tensor out = torch::full({s.batch, s.tokens, s.channels}, NAN);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  ddpm::fused_attention(s, qkv.data_ptr<float>(), out.data_ptr<float>(), static_cast<float>(scale));
  const torch::Tensor exact = reference(qkv, s, scale, torch::kDouble);
  return {(out.to(torch::kDouble) - exact).abs().max().item<double>(),
          (reference(qkv, s, scale, torch::kFloat) - exact).abs().max().item<double>()};
}

}  // namespace

TEST(FusedAttention, SupportsTheHeadWidthsItHasKernelsFor) {
  for (int64_t d : {8, 16, 32, 64}) EXPECT_TRUE(ddpm::fused_attention_supports(d)) << d;
  for (int64_t d : {1, 2, 4, 12, 24, 128}) EXPECT_FALSE(ddpm::fused_attention_supports(d)) << d;
}

TEST(FusedAttention, MatchesTheFullSoftmaxInFloat64) {
  torch::manual_seed(3);
  // Tokens: one; fewer than a query block; exactly one; partial blocks of queries (16) and keys
  // (128); several key blocks, so the online rescaling runs.
  for (int64_t d : {8, 16, 32, 64}) {
    for (int64_t tokens : {1, 5, 16, 37, 300}) {
      EXPECT_LT(errors({2, tokens, 2 * d, 2}, 1.0).fused, 2e-6) << "d=" << d << " tokens=" << tokens;
    }
  }
}

TEST(FusedAttention, AsAccurateAsTheLibraryAtTheSeed64FullResolutionShape) {
  torch::manual_seed(4);
  // 64x64 tokens, 64 channels in 4 heads: the layer the kernel was written for. Its sums run
  // over 4096 keys; blockwise accumulation keeps them as accurate as the library's products
  // (one running sum measured 6x the library's error).
  const Errors e = errors({1, 4096, 64, 4}, 2.0);
  EXPECT_LT(e.fused, 2 * e.library) << "library's float32 error " << e.library;
}

TEST(FusedAttention, LargeScoresStayFiniteAndAccurate) {
  torch::manual_seed(5);
  // Inputs of size 30 give scores in the thousands: exp() of them overflows float32 unless the
  // running maximum is subtracted first. Scores that large carry float32 rounding of ~1e-4 in
  // the exponent, so compare with what the library's float32 softmax achieves.
  const Errors e = errors({3, 200, 64, 4}, 30.0);
  EXPECT_TRUE(std::isfinite(e.fused));
  EXPECT_LT(e.fused, 4 * e.library) << "library's float32 error " << e.library;
}
