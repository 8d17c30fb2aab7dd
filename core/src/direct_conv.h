#pragma once
// 3x3 convolutions of channels-last maps straight through oneDNN, for CPU inference.
#include <torch/torch.h>

#include <memory>
#include <optional>

namespace ddpm {

// LibTorch 1.13 runs a convolution with a prepacked weight on plain NCHW maps: oneDNN's kernels
// want channels innermost, so every call reorders its input and its output (18 % of an 8-stage
// stream's convolution time), and ideep's wrapper adds ~40 us a call. Called directly on
// channels-last (NHWC) maps, oneDNN's brgemm kernels take them as they are: 1.15x to 1.8x
// faster per convolution at the default model's shapes (tests/bench/NOTES.md). Each image's
// result is the same alone, in any batch and on any number of threads.
class DirectConv {
 public:
  DirectConv();
  ~DirectConv();

  // Whether this build has oneDNN's headers (without them every run() gives nullopt).
  static bool available();

  // conv2d(input, weight, stride 1, padding `pad`) of a channels-last float or bfloat16 CPU map;
  // the result is channels-last in the input's type. The weight (plain float [O, C, k, k]) is
  // reordered once per shape and again when it changes (a new tensor or version). nullopt where
  // oneDNN has only its reference kernel for the shape (the caller takes LibTorch's path).
  std::optional<torch::Tensor> run(const torch::Tensor& input, const torch::Tensor& weight, int64_t pad);

  // Reordered copies of weights held (batch sizes whose kernels want one layout share one).
  std::size_t weight_copies() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether `t` is laid out channels-last and not also plain (a 1x1 map is both).
inline bool channels_last(const torch::Tensor& t) {
  return t.dim() == 4 && !t.is_contiguous() && t.is_contiguous(at::MemoryFormat::ChannelsLast);
}

}  // namespace ddpm
