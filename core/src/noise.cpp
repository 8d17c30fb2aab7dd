#include "ddpm/noise.h"

#include <ATen/CPUGeneratorImpl.h>

namespace ddpm {

NoiseSource::NoiseSource(const std::vector<uint64_t>& seeds, std::vector<int64_t> image_shape,
                         torch::Device device)
    : shape_(std::move(image_shape)), device_(device) {
  for (uint64_t s : seeds) generators_.push_back(at::detail::createCPUGenerator(s));
}

namespace {

torch::Tensor draw_from(std::vector<at::Generator>& generators, const std::vector<int64_t>& shape) {
  std::vector<torch::Tensor> parts;
  parts.reserve(generators.size());
  for (auto& g : generators) parts.push_back(torch::randn(shape, g, torch::kFloat32));
  return torch::stack(parts);
}

}  // namespace

void NoiseSource::vary(const std::vector<uint64_t>& seeds, double strength) {
  other_.clear();
  strength_ = strength;
  if (strength <= 0) return;
  for (uint64_t s : seeds) other_.push_back(at::detail::createCPUGenerator(s));
}

torch::Tensor NoiseSource::draw() {
  const torch::Tensor own = draw_from(generators_, shape_);
  if (other_.empty()) return own.to(device_);
  return slerp(own, draw_from(other_, shape_), strength_).to(device_);
}

torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double w) {
  const auto B = a.size(0);
  const torch::Tensor fa = a.reshape({B, -1}), fb = b.reshape({B, -1});
  const torch::Tensor cos = ((fa * fb).sum(1) / (fa.norm(2, 1) * fb.norm(2, 1)).clamp_min(1e-12))
                                .clamp(-1, 1);
  const torch::Tensor omega = torch::acos(cos);
  const torch::Tensor so = torch::sin(omega);
  // Nearly parallel vectors: the straight mix is the limit and avoids 0/0.
  const torch::Tensor parallel = so.abs() < 1e-6;
  const torch::Tensor ca = torch::where(parallel, torch::full_like(so, 1 - w), torch::sin((1 - w) * omega) / so);
  const torch::Tensor cb = torch::where(parallel, torch::full_like(so, w), torch::sin(w * omega) / so);
  return (ca.unsqueeze(1) * fa + cb.unsqueeze(1) * fb).view(a.sizes());
}

}  // namespace ddpm
