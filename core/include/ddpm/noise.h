#pragma once
// Seeded Gaussian noise with one generator per image: image i of a batch gets the same noise
// whatever the batch size, and noise is drawn on the CPU and then moved, so a seed gives the
// same image on CPU and GPU.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace ddpm {

class NoiseSource {
 public:
  NoiseSource(const std::vector<uint64_t>& seeds, std::vector<int64_t> image_shape,
              torch::Device device);
  // [B, C, H, W] standard normal noise, one draw from each image's generator.
  torch::Tensor draw();
  // Variations: from now on every draw is slerp(this draw, the same draw of `seeds`, strength),
  // the starting noise and each ancestral step's alike, so that strength 1 gives exactly the
  // other seeds' images under every sampler and a seed walk moves smoothly under stochastic
  // ones too. Strength 0 changes nothing.
  void vary(const std::vector<uint64_t>& seeds, double strength);

 private:
  std::vector<at::Generator> generators_;
  std::vector<at::Generator> other_;  // vary()'s, empty without a variation
  double strength_ = 0.0;
  std::vector<int64_t> shape_;
  torch::Device device_;
};

// Spherical interpolation per image between two noise batches (w = 0 gives a, 1 gives b):
// unlike a straight mix, it keeps the norm that Gaussian noise of this size has, so every
// point of an animation path is noise the model knows.
torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double w);

}  // namespace ddpm
