// The Down blocks' 2x2 max pooling against LibTorch's: the same bits on real UNet shapes, with
// NaN, infinities and signed zeros in the windows, and LibTorch's path where the loop does not
// apply (gradients, odd sizes); channels-last maps.
#include <gtest/gtest.h>

#include <limits>

#include "max_pool.h"

namespace {

bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() &&
         torch::equal(a.contiguous().view(torch::kInt32), b.contiguous().view(torch::kInt32));
}

TEST(MaxPool, EqualsLibTorchBitForBit) {
  torch::manual_seed(5);
  torch::NoGradGuard no_grad;
  for (auto shape : {std::vector<int64_t>{6, 32, 32, 32}, {1, 64, 16, 16}, {3, 128, 8, 8}, {2, 4, 2, 6}}) {
    torch::Tensor x = torch::randn(shape);
    // The special values the rule must order like LibTorch: NaN first in a window and last in
    // the next (beside -inf), then 0.0 and -0.0 tied in both orders.
    auto flat = x.view(-1);
    flat.index_put_({0}, std::numeric_limits<float>::quiet_NaN());
    flat.index_put_({shape[3] + 3}, std::numeric_limits<float>::quiet_NaN());
    flat.index_put_({2}, -std::numeric_limits<float>::infinity());
    flat.index_put_({3}, -std::numeric_limits<float>::infinity());
    flat.index_put_({4}, 0.0f);
    flat.index_put_({5}, -0.0f);
    flat.index_put_({shape[3] + 4}, -0.0f);
    flat.index_put_({shape[3] + 5}, 0.0f);
    const torch::Tensor want = torch::max_pool2d(x, 2);
    const torch::Tensor got = ddpm::max_pool_2x2(x);
    EXPECT_TRUE(same_bits(got, want)) << x.sizes();
    EXPECT_TRUE(std::isnan(got.view(-1)[0].item<float>()));
    EXPECT_TRUE(std::isnan(got.view(-1)[1].item<float>()));
    // A channels-last map (CPU inference's layout) gives the same bits, channels-last.
    const torch::Tensor last = ddpm::max_pool_2x2(x.contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(last.is_contiguous(at::MemoryFormat::ChannelsLast)) << x.sizes();
    EXPECT_TRUE(same_bits(last, want)) << x.sizes();
  }
}

TEST(MaxPool, FallsBackToLibTorchWhereTheLoopDoesNotApply) {
  torch::manual_seed(6);
  // Odd sizes: LibTorch drops the last row and column.
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor odd = torch::randn({1, 3, 5, 7});
    EXPECT_EQ(ddpm::max_pool_2x2(odd).sizes(), (std::vector<int64_t>{1, 3, 2, 3}));
    EXPECT_TRUE(same_bits(ddpm::max_pool_2x2(odd), torch::max_pool2d(odd, 2)));
  }
  // Training: the gradient flows to each window's maximum.
  const torch::Tensor x = torch::randn({2, 3, 4, 4}, torch::requires_grad());
  ddpm::max_pool_2x2(x).sum().backward();
  EXPECT_EQ(x.grad().sum().item<float>(), 2 * 3 * 2 * 2);
  EXPECT_TRUE(torch::equal(x.grad().amax({2, 3}), torch::ones({2, 3})));
}

}  // namespace
