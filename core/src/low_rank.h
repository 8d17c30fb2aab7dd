#pragma once
// A low-rank weight delta (LoRA): blocks compute with W + up · down, null unless an adapter
// (ddpm/lora.h) is attached. One product with the merged weight, not two thin layers beside the
// frozen W: the thin layers skip W's gradient but cost more than it (bf16 fine-tunes of the
// default model: 141 images/s through thin layers against 187 training every weight;
// tests/bench/NOTES.md, 2026-12-06), and the merged weight's backward hands its gradient to up
// and down through two small products.
#include <torch/torch.h>

namespace ddpm {

struct LowRankDelta {
  // Convolution: down [r, in, k, k] (the weight's own kernel), up [out, r, 1, 1].
  // Linear: down [r, in], up [out, r].
  torch::Tensor down, up;

  // up · down in W's shape.
  torch::Tensor weight() const {
    std::vector<int64_t> shape = down.sizes().vec();
    shape[0] = up.size(0);
    return torch::mm(up.flatten(1), down.flatten(1)).view(shape);
  }
};

// W + up · down, or W itself without an adapter.
inline torch::Tensor merged(const torch::Tensor& weight, const std::shared_ptr<LowRankDelta>& lora) {
  return lora ? weight + lora->weight() : weight;
}

// A block's adaptable weights: the weight's name within the block and the block's slot for it.
using LowRankSlots = std::vector<std::pair<std::string, std::shared_ptr<LowRankDelta>*>>;

}  // namespace ddpm
