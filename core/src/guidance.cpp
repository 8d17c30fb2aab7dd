#include "ddpm/guidance.h"

#include <algorithm>
#include <cmath>

#include "ddpm/io/error.h"
#include "split_forward.h"

namespace ddpm {
namespace {

// A forward below this runs a lone image on one thread (split_forward's `small`): the default
// model's is 0.57 GFLOP; the reference's 64x64 seed64 (several GFLOP) keeps its team.
constexpr double kSmallForwardFlops = 1e9;

}  // namespace

torch::Tensor predict_noise(UNet& model, const torch::Tensor& x, const torch::Tensor& t,
                            const std::vector<int64_t>& classes, const std::vector<float>& guidance,
                            float rescale, bool tiling) {
  const int64_t B = x.size(0);
  if (static_cast<int64_t>(classes.size()) != B || static_cast<int64_t>(guidance.size()) != B) {
    throw Error("predict_noise: " + std::to_string(classes.size()) + " classes and " +
                std::to_string(guidance.size()) + " guidance scales for a batch of " +
                std::to_string(B));
  }
  std::vector<int64_t> labels(B), twins;
  std::vector<float> twin_scale;
  for (int64_t i = 0; i < B; ++i) {
    const bool has_class = classes[i] >= 0 && guidance[i] != 0.0f;
    labels[i] = has_class ? classes[i] : -1;
    if (has_class && guidance[i] != 1.0f) {
      twins.push_back(i);
      twin_scale.push_back(guidance[i]);
    }
  }
  const auto long_opts = torch::TensorOptions().dtype(torch::kLong);
  const torch::Tensor y = torch::tensor(labels, long_opts).to(x.device());
  const bool small = model->config().forward_flops(1) < kSmallForwardFlops;
  const BatchForward forward = [&](const torch::Tensor& xs, const torch::Tensor& ts, const torch::Tensor& ys,
                                   const torch::Tensor& ws) { return model->forward(xs, ts, ys, tiling, ws); };
  if (model->config().guidance_input) {
    // Guidance distilled into the network: one forward per image at its scale. Images without a
    // class take scale 1, as in distillation (the network ignores it there).
    std::vector<float> scales(B);
    for (int64_t i = 0; i < B; ++i) scales[i] = labels[i] >= 0 ? guidance[i] : 1.0f;
    return split_forward(forward, x, t, y, torch::tensor(scales).to(x.device(), x.scalar_type()), small);
  }
  if (twins.empty()) return split_forward(forward, x, t, y, {}, small);

  const int64_t n = static_cast<int64_t>(twins.size());
  const torch::Tensor idx = torch::tensor(twins, long_opts).to(x.device());
  const torch::Tensor out =
      split_forward(forward, torch::cat({x, x.index_select(0, idx)}), torch::cat({t, t.index_select(0, idx)}),
                    torch::cat({y, torch::full({n}, -1, long_opts.device(x.device()))}));
  torch::Tensor eps = out.narrow(0, 0, B);
  const torch::Tensor uncond = out.narrow(0, B, n);
  const torch::Tensor cond = eps.index_select(0, idx);
  const torch::Tensor scale =
      torch::tensor(twin_scale).to(x.device(), x.scalar_type()).view({-1, 1, 1, 1});
  torch::Tensor guided = uncond + scale * (cond - uncond);
  if (rescale > 0) {
    const std::vector<int64_t> dims = {1, 2, 3};
    const torch::Tensor ratio = cond.std(dims, true, true) / guided.std(dims, true, true).clamp_min(1e-8);
    guided = rescale * (guided * ratio) + (1 - rescale) * guided;
  }
  return eps.index_copy(0, idx, guided);
}

void check_guidance_interval(const GuidanceInterval& interval) {
  for (float s : {interval.min_sigma, interval.max_sigma}) {
    if (!(s >= 0) || !std::isfinite(s)) {
      throw Error("guidance interval bound " + number_text(s) + " is invalid: allowed 0 (no bound) or more, finite");
    }
  }
  if (interval.max_sigma > 0 && interval.max_sigma < interval.min_sigma) {
    throw Error("guidance interval [" + number_text(interval.min_sigma) + ", " + number_text(interval.max_sigma) +
                "] is empty: the upper noise level must be at least the lower one (or 0: no bound)");
  }
}

float guidance_at(float g, double alpha_bar, const GuidanceInterval& interval, const UNetConfig& model) {
  if (g <= 1 || model.guidance_input || !interval.limits()) return g;
  return interval.contains(std::sqrt((1 - alpha_bar) / alpha_bar)) ? g : 1.0f;
}

std::vector<float> guidance_at(const std::vector<float>& guidance, const torch::Tensor& t,
                               const torch::Tensor& alpha_bars, const GuidanceInterval& interval,
                               const UNetConfig& model) {
  if (!interval.limits() || model.guidance_input) return guidance;
  const torch::Tensor steps = t.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* ts = steps.data_ptr<int64_t>();
  const double* ab = alpha_bars.data_ptr<double>();
  std::vector<float> out(guidance.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = guidance_at(guidance[i], ab[ts[i]], interval, model);
  return out;
}

}  // namespace ddpm
