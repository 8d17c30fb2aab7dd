#pragma once
// A 3x3 convolution's weight in oneDNN's blocked layout, kept for CPU inference.
#include <torch/torch.h>

#include <mutex>

#include "direct_conv.h"

namespace ddpm {

// at::mkldnn_convolution reorders a plain weight into oneDNN's blocked layout at every call:
// for the default model's 32 convolutions that is ~0.7 ms of a 7 ms batch-1 forward, and most
// of the time of the small 8x8 and 4x4 ones (tests/bench/NOTES.md). The reordered copy gives
// the same floats. It is made again when the weight changes: a new tensor, or an in-place
// update (training, EMA, loading) that moves the weight's version counter.
class PackedConvWeight {
 public:
  // conv2d(input, weight, stride 1, padding `pad`) through oneDNN; `input` is a float CPU
  // tensor and gradients are off. A channels-last input goes to oneDNN directly (direct_conv.h)
  // and gives a channels-last result; a plain one gives a plain one. A bfloat16 input gives a
  // bfloat16 result; a float input in bf16 inference (ddpm/precision.h) is rounded to bfloat16
  // and its result widened to float.
  torch::Tensor conv(const torch::Tensor& input, const torch::Tensor& weight, int64_t pad);

 private:
  torch::Tensor packed_for(const torch::Tensor& weight, int64_t pad, bool bf16);

  std::mutex mutex_;  // jobs and a split forward's parts share one model
  const void* data_ = nullptr;
  uint32_t version_ = 0;
  int64_t pad_ = -1;
  bool bf16_ = false;
  torch::Tensor packed_;
  DirectConv direct_;
};

// The same convolution through oneDNN with a plain weight, reordered at this call and not kept:
// for a weight that is new at every call (W + up · down of a LoRA adapter, low_rank.h).
torch::Tensor onednn_conv(const torch::Tensor& input, const torch::Tensor& weight, int64_t pad);

}  // namespace ddpm
