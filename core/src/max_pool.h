#pragma once
// 2x2 max pooling with stride 2: the first operation of every Down block.
#include <torch/torch.h>

namespace ddpm {

// torch::max_pool2d(x, 2), the same values bit for bit (NaN included). For CPU inference on
// float maps of even size it runs a plain loop: LibTorch 1.13's CPU kernel also computes the
// indices a backward would need, and took 5.7 % of an 8-stage stream's time (a 32x32 map of 6
// images, 0.45 ms) for a step that only moves memory. Otherwise (training, CUDA, odd sizes)
// it is LibTorch's.
torch::Tensor max_pool_2x2(const torch::Tensor& x);

}  // namespace ddpm
