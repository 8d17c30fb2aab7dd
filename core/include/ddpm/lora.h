#pragma once
// Low-rank adapters (LoRA) for fine-tuning: every 3x3 convolution and every attention and
// feed-forward projection W of a UNet gets a trainable delta up · down of rank r beside it
// (up starts at zero, so the adapted model starts as the base). Those weights W stay frozen (the
// layers compute with W + up · down, whose gradient reaches only up and down); the small rest
// (class embedding, the embedding projections, the output convolution, biases and norm gains: a
// few percent of the parameters) keeps training, so a new class gets its own embedding row. The
// adapted weights, W + up · down, are what the EMA averages and what the model file holds at
// the end.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ddpm/unet.h"

namespace ddpm {

struct LowRankDelta;

class LoraAdapter {
 public:
  static constexpr int kMaxRank = 256;

  // Attaches to `model` and freezes the adapted weights. `down` is drawn from `generator` like a
  // layer's weights (uniform within 1/sqrt(fan_in)); a rank above a weight's smaller side is cut
  // to it.
  LoraAdapter(UNet model, int rank, at::Generator& generator);
  ~LoraAdapter();  // detaches: the model computes with its own weights again
  LoraAdapter(const LoraAdapter&) = delete;
  LoraAdapter& operator=(const LoraAdapter&) = delete;

  int rank() const { return rank_; }
  // "<weight name>.lora_down" and "<weight name>.lora_up" of every adapted weight, in the
  // model's parameter order.
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const;
  // The model's parameter `name` as the adapted model computes with it: W + up · down for an
  // adapted weight (no gradient), `value` itself otherwise.
  torch::Tensor effective(const std::string& name, const torch::Tensor& value) const;

 private:
  UNet model_;
  int rank_;
  std::vector<std::pair<std::string, std::shared_ptr<LowRankDelta>>> deltas_;  // in parameter order
  std::unordered_map<std::string, std::size_t> index_;  // weight name -> its place in deltas_
  std::vector<std::shared_ptr<LowRankDelta>*> slots_;  // where they are attached
};

}  // namespace ddpm
