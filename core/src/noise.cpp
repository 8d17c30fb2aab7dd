#include "ddpm/noise.h"

#include <ATen/CPUGeneratorImpl.h>

namespace ddpm {

NoiseSource::NoiseSource(const std::vector<uint64_t>& seeds, std::vector<int64_t> image_shape,
                         torch::Device device)
    : shape_(std::move(image_shape)), device_(device) {
  for (uint64_t s : seeds) generators_.push_back(at::detail::createCPUGenerator(s));
}

torch::Tensor NoiseSource::draw() {
  std::vector<torch::Tensor> parts;
  parts.reserve(generators_.size());
  for (auto& g : generators_) parts.push_back(torch::randn(shape_, g, torch::kFloat32));
  return torch::stack(parts).to(device_);
}

}  // namespace ddpm
