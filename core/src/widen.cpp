#include "ddpm/widen.h"

#include <cmath>

#include "ddpm/io/error.h"

namespace ddpm {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// `from` (the narrow parameter) grown to `shape`: dimension 0 (outputs) duplicated where it
// doubles, dimension 1 (inputs) split where it doubles.
torch::Tensor grown(const std::string& name, torch::Tensor from, at::IntArrayRef shape, torch::Generator& gen) {
  const auto doubles = [&](int64_t d) {
    if (shape[d] == from.size(d)) return false;
    if (d > 1 || shape[d] != 2 * from.size(d)) {
      throw Error("cannot widen parameter '" + name + "' from " + c10::str(from.sizes()) + " to " + c10::str(shape));
    }
    return true;
  };
  if (from.dim() != static_cast<int64_t>(shape.size())) {
    throw Error("cannot widen parameter '" + name + "': " + c10::str(from.sizes()) + " against " + c10::str(shape));
  }
  for (int64_t d = 2; d < from.dim(); ++d) doubles(d);
  if (from.dim() >= 1 && doubles(0)) from = from.repeat_interleave(2, 0);
  if (from.dim() >= 2 && doubles(1)) {
    const torch::Tensor u = torch::rand(from.sizes(), gen, from.options()) * 0.5 - 0.25;
    // (1/2 + u, 1/2 - u) on the pair (2i, 2i + 1): the sign alternates along dimension 1.
    std::vector<int64_t> sign_shape(from.dim(), 1);
    sign_shape[1] = from.size(1) * 2;
    const torch::Tensor sign =
        (1 - 2 * (torch::arange(sign_shape[1], from.options()).remainder(2))).view(sign_shape);
    from = from.repeat_interleave(2, 1) * (0.5 + u.repeat_interleave(2, 1) * sign);
  }
  return from;
}

}  // namespace

Model widen_model(const Model& model, uint64_t seed) {
  io::ModelInfo info = model.info;
  info.unet.base_channels *= 2;
  info.unet.preset += "-w" + std::to_string(info.unet.base_channels);
  Model wide = make_model(info, torch::kCPU);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  const std::map<std::string, torch::Tensor> narrow = state_dict(*model.unet);
  std::map<std::string, torch::Tensor> weights;
  for (const auto& [name, target] : state_dict(*wide.unet)) {
    const auto it = narrow.find(name);
    if (it == narrow.end()) throw Error("cannot widen the model: it has no parameter '" + name + "'");
    torch::Tensor w = grown(name, it->second.detach().to(torch::kCPU, torch::kFloat64), target.sizes(), gen);
    if (ends_with(name, "in_proj_weight") || ends_with(name, "in_proj_bias")) {
      // The queries' rows: their dot products double with the duplicated channels, and the
      // softmax scale 1/sqrt(head width) shrinks by sqrt(2) only.
      w.narrow(0, 0, w.size(0) / 3).mul_(1 / std::sqrt(2.0));
    }
    weights[name] = w.to(target.scalar_type());
  }
  load_state_dict(*wide.unet, weights, "(widened)");
  return wide;
}

}  // namespace ddpm
