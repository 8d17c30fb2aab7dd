// The fused attention kernels against softmax(q k^T * scale) v and its autograd gradients
// computed by LibTorch in float64: every head width they support, token counts that leave
// partial query and key blocks, several batches and heads, and scores large enough that an
// unshifted exponential would overflow.
#include <gtest/gtest.h>

#include <cmath>

#include "attention.h"
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

TEST(FusedAttention, LargeScoresStayFiniteAndAccurate) {
  torch::manual_seed(5);
  // Inputs of size 30 give scores in the thousands: exp() of them overflows float32 unless the
  // running maximum is subtracted first. Scores that large carry float32 rounding of ~1e-4 in
  // the exponent, so compare with what the library's float32 softmax achieves.
  const Errors e = errors({3, 200, 64, 4}, 30.0);
  EXPECT_TRUE(std::isfinite(e.fused));
  EXPECT_LT(e.fused, 4 * e.library) << "library's float32 error " << e.library;
}

TEST(FusedAttention, GradientsMatchAutogradThroughTheFullSoftmaxInFloat64) {
  torch::manual_seed(6);
  // packed_attention takes the fused kernels for float32 and LibTorch's differentiable
  // bmm + softmax + bmm for float64: the float64 gradients are the reference.
  for (int64_t d : {8, 16, 32, 64}) {
    for (int64_t tokens : {1, 5, 37, 300}) {
      const int64_t heads = 2, C = heads * d;
      const torch::Tensor x = torch::randn({2, tokens, 3 * C});
      const torch::Tensor up = torch::randn({2, tokens, C});  // dLoss/dout
      const torch::Tensor x32 = x.clone().requires_grad_(), x64 = x.to(torch::kDouble).requires_grad_();
      const torch::Tensor out32 = ddpm::packed_attention(x32, heads);
      const torch::Tensor out64 = ddpm::packed_attention(x64, heads);
      (out32 * up).sum().backward();
      (out64 * up.to(torch::kDouble)).sum().backward();
      const std::string at = "d=" + std::to_string(d) + " tokens=" + std::to_string(tokens);
      EXPECT_LT((out32.to(torch::kDouble) - out64).abs().max().item<double>(), 2e-6) << at;
      // q, k and v parts separately: a gradient written to the wrong part shows as an error of
      // the gradients' own size (about 1).
      for (int64_t part = 0; part < 3; ++part) {
        const torch::Tensor g32 = x32.grad().narrow(2, part * C, C).to(torch::kDouble);
        const torch::Tensor g64 = x64.grad().narrow(2, part * C, C);
        EXPECT_LT((g32 - g64).abs().max().item<double>(), 1e-5) << at << " part " << part;
      }
    }
  }
}

TEST(FusedAttention, AsAccurateAsTheLibraryAtTheSeed64FullResolutionShape) {
  torch::manual_seed(4);
  // 64x64 tokens, 64 channels in 4 heads: the layer the kernels were written for. Their sums
  // run over 4096 keys (forward, dq) or queries (dk, dv); blockwise accumulation keeps the
  // forward as accurate as the library's products (one running sum measured 6x the library's
  // error) and the gradients within 1e-5 of their size.
  const int64_t heads = 4, C = 64;
  const torch::Tensor x = torch::randn({1, 4096, 3 * C}) * 2;
  const torch::Tensor up = torch::randn({1, 4096, C});
  const torch::Tensor x32 = x.clone().requires_grad_(), x64 = x.to(torch::kDouble).requires_grad_();
  const torch::Tensor out32 = ddpm::packed_attention(x32, heads);
  const torch::Tensor out64 = ddpm::packed_attention(x64, heads);
  (out32 * up).sum().backward();
  (out64 * up.to(torch::kDouble)).sum().backward();
  torch::Tensor library;
  {
    torch::NoGradGuard ng;
    library = ddpm::library_attention(x, heads).to(torch::kDouble);
  }
  const double library_error = (library - out64).abs().max().item<double>();
  EXPECT_LT((out32.to(torch::kDouble) - out64).abs().max().item<double>(), 2 * library_error);
  const double size = x64.grad().abs().max().item<double>();
  EXPECT_LT((x32.grad().to(torch::kDouble) - x64.grad()).abs().max().item<double>(), 1e-5 * size);
}
