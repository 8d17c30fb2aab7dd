#pragma once
// A low-rank weight delta (LoRA): W + up · down, applied beside the frozen weight W as two
// thin layers instead of being added to it, so that a fine-tune's backward pass skips the
// gradient of W (a third of a convolution's training cost). Blocks hold one per adaptable
// weight, null unless an adapter (ddpm/lora.h) is attached.
#include <torch/torch.h>

namespace ddpm {

struct LowRankDelta {
  // Convolution: down [r, in, k, k] (the weight's own kernel), up [out, r, 1, 1].
  // Linear: down [r, in], up [out, r].
  torch::Tensor down, up;

  // The delta's part of conv2d(padded, W, padding = pad).
  torch::Tensor conv(const torch::Tensor& padded, int64_t pad) const {
    return torch::conv2d(torch::conv2d(padded, down, {}, 1, pad), up);
  }
  // The delta's part of linear(x, W).
  torch::Tensor linear(const torch::Tensor& x) const { return torch::linear(torch::linear(x, down), up); }
  // up · down in W's shape.
  torch::Tensor weight() const {
    std::vector<int64_t> shape = down.sizes().vec();
    shape[0] = up.size(0);
    return torch::mm(up.flatten(1), down.flatten(1)).view(shape);
  }
};

// A block's adaptable weights: the weight's name within the block and the block's slot for it.
using LowRankSlots = std::vector<std::pair<std::string, std::shared_ptr<LowRankDelta>*>>;

}  // namespace ddpm
