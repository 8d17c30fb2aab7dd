#include "ddpm/sampler.h"

#include <cmath>

#include "ddpm/guidance.h"
#include "ddpm/io/error.h"
#include "ddpm/noise.h"

namespace ddpm {
namespace {

std::string str(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

// Resamples the chain at `ts`: beta'_i = 1 - alpha_bar[ts_i] / alpha_bar[ts_{i-1}].
NoiseSchedule respaced(const NoiseSchedule& s, const std::vector<int64_t>& ts) {
  if (static_cast<int>(ts.size()) == s.timesteps()) return s;
  const torch::Tensor ab = s.alpha_bars.to(torch::kCPU, torch::kFloat64);
  std::vector<double> betas;
  double prev = 1.0;
  for (int64_t t : ts) {
    const double cur = ab[t].item<double>();
    betas.push_back(1.0 - cur / prev);
    prev = cur;
  }
  return make_schedule_from_betas(s.config, betas).to(s.betas.device());
}

}  // namespace

std::vector<int64_t> spaced_timesteps(int timesteps, int steps) {
  std::vector<int64_t> ts(steps);
  for (int i = 0; i < steps; ++i) {
    ts[i] = steps == 1 ? timesteps - 1
                       : static_cast<int64_t>(std::llround(double(i) * (timesteps - 1) / (steps - 1)));
  }
  return ts;
}

void validate(const SampleOptions& o, const UNetConfig& model, int timesteps) {
  if (o.batch < 1 || o.batch > 4096) {
    throw Error("batch size " + std::to_string(o.batch) + " is invalid: allowed 1 to 4096");
  }
  if (o.steps < 0 || o.steps > timesteps) {
    throw Error("steps " + std::to_string(o.steps) + " is invalid: allowed 1 to " +
                std::to_string(timesteps) + " (the schedule's T), or 0 for T");
  }
  if (!(o.guidance >= 0) || !std::isfinite(o.guidance)) {
    throw Error("guidance scale " + str(o.guidance) +
                " is invalid: allowed 0 (unconditional) or more, finite");
  }
  if (!o.classes.empty() && o.classes.size() != 1 && static_cast<int>(o.classes.size()) != o.batch) {
    throw Error(std::to_string(o.classes.size()) + " class labels given for a batch of " +
                std::to_string(o.batch) + ": give none, one, or one per image");
  }
  for (int64_t c : o.classes) {
    if (c >= 0 && !model.conditional()) {
      throw Error("class " + std::to_string(c) +
                  " given to an unconditional model: only -1 (none) is allowed");
    }
    if (c < -1 || c >= model.num_classes) {
      throw Error("class " + std::to_string(c) + " is out of range: allowed -1 (none) to " +
                  std::to_string(model.num_classes - 1));
    }
  }
}

SampleResult sample_ddpm(UNet& model, const NoiseSchedule& schedule, const SampleOptions& o,
                         const StepObserver& observer, const std::atomic<bool>* cancel) {
  const UNetConfig& cfg = model->config();
  validate(o, cfg, schedule.timesteps());
  std::vector<int64_t> classes(o.batch, -1);
  for (int i = 0; i < o.batch && !o.classes.empty(); ++i) {
    classes[i] = o.classes.size() == 1 ? o.classes[0] : o.classes[i];
  }
  const std::vector<float> guidance(o.batch, o.guidance);
  model->eval();
  const NoisePredictor predict = [&](const torch::Tensor& x, const torch::Tensor& t) {
    return predict_noise(model, x, t, classes, guidance);
  };
  return sample_ddpm(predict, schedule, o, {cfg.in_channels, cfg.image_size, cfg.image_size},
                     model->parameters().front().device(), observer, cancel);
}

SampleResult sample_ddpm(const NoisePredictor& predict, const NoiseSchedule& schedule_in,
                         const SampleOptions& o, const std::vector<int64_t>& image_shape,
                         torch::Device device, const StepObserver& observer,
                         const std::atomic<bool>* cancel) {
  if (o.batch < 1) throw Error("batch size " + std::to_string(o.batch) + " is invalid");
  if (o.steps < 0 || o.steps > schedule_in.timesteps()) {
    throw Error("steps " + std::to_string(o.steps) + " is invalid: allowed 1 to " +
                std::to_string(schedule_in.timesteps()));
  }
  const int steps = o.steps == 0 ? schedule_in.timesteps() : o.steps;
  const std::vector<int64_t> ts = spaced_timesteps(schedule_in.timesteps(), steps);
  const NoiseSchedule s = respaced(schedule_in.to(device), ts);
  std::vector<uint64_t> seeds(o.batch);
  for (int i = 0; i < o.batch; ++i) seeds[i] = o.seed + static_cast<uint64_t>(i);
  NoiseSource noise(seeds, image_shape, device);

  c10::InferenceMode inference;
  SampleResult r;
  torch::Tensor x = noise.draw();
  const auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(device);
  for (int i = steps - 1; i >= 0; --i) {
    if (cancel && cancel->load(std::memory_order_relaxed)) {
      r.cancelled = true;
      break;
    }
    // The respaced schedule is indexed by i; the network sees the original timestep.
    const torch::Tensor t_chain = torch::full({o.batch}, i, long_opts);
    const torch::Tensor eps = predict(x, torch::full({o.batch}, ts[i], long_opts));
    const torch::Tensor z = i > 0 ? noise.draw() : torch::zeros_like(x);
    torch::Tensor x0 = predict_x0(s, x, t_chain, eps);
    if (o.clip_x0) {
      x0 = x0.clamp(-1, 1);
      x = posterior_mean(s, x0, x, t_chain) +
          (i > 0 ? 1.0 : 0.0) * reverse_variance(s, t_chain, o.variance).sqrt() * z;
    } else {
      x = reverse_step(s, x, t_chain, eps, z, o.variance);
    }
    ++r.steps_done;
    if (observer) observer(StepView{r.steps_done, steps, ts[i], x, x0});
  }
  r.images = x;
  return r;
}

}  // namespace ddpm
