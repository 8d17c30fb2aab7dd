#include "ddpm/sampler.h"

#include <cmath>

#include "ddpm/diffusion.h"
#include "ddpm/guidance.h"
#include "ddpm/io/error.h"
#include "ddpm/noise.h"
#include "ddpm/sampler_steps.h"

namespace ddpm {
namespace {

// The explicit per-image seeds when given (for the main noise), else base + i.
std::vector<uint64_t> image_seeds(const SampleOptions& o, uint64_t base, bool explicit_list) {
  if (explicit_list && !o.seeds.empty()) return o.seeds;
  std::vector<uint64_t> seeds(o.batch);
  for (int i = 0; i < o.batch; ++i) seeds[i] = base + static_cast<uint64_t>(i);
  return seeds;
}

// Brings a user image or mask to [B, C, S, S]: broadcast a single one over the batch, resize
// another size bilinearly (and say so).
torch::Tensor fit(const torch::Tensor& in, int batch, int64_t size,
                  const std::string& what, torch::Device device, std::vector<std::string>& warnings) {
  torch::Tensor t = in.to(device, torch::kFloat32);
  if (t.dim() == 3) t = t.unsqueeze(0);
  if (t.size(2) != size || t.size(3) != size) {
    warnings.push_back(what + " resized from " + std::to_string(t.size(3)) + "x" +
                       std::to_string(t.size(2)) + " to " + std::to_string(size) + "x" +
                       std::to_string(size));
    t = torch::nn::functional::interpolate(
        t, torch::nn::functional::InterpolateFuncOptions()
               .size(std::vector<int64_t>{size, size})
               .mode(torch::kBilinear)
               .align_corners(false));
  }
  return t.size(0) == batch ? t : t.expand({batch, t.size(1), size, size}).contiguous();
}

}  // namespace

std::string to_string(SamplerKind k) {
  switch (k) {
    case SamplerKind::DDPM: return "ddpm";
    case SamplerKind::DDIM: return "ddim";
    case SamplerKind::DPMSolverPP2M: return "dpmpp2m";
    case SamplerKind::EulerAncestral: return "euler_a";
    case SamplerKind::DPMSolverPP2MSDE: return "dpmpp2m_sde";
  }
  return "?";
}

SamplerKind sampler_from_string(const std::string& name) {
  for (auto k : {SamplerKind::DDPM, SamplerKind::DDIM, SamplerKind::DPMSolverPP2M,
                 SamplerKind::EulerAncestral, SamplerKind::DPMSolverPP2MSDE}) {
    if (name == to_string(k)) return k;
  }
  throw Error("unknown sampler '" + name + "': allowed ddpm, ddim, dpmpp2m, euler_a, dpmpp2m_sde");
}

int default_steps(SamplerKind k, int timesteps) {
  switch (k) {
    case SamplerKind::DDPM: return timesteps;
    case SamplerKind::DDIM: return std::min(25, timesteps);
    case SamplerKind::DPMSolverPP2M: return std::min(20, timesteps);
    case SamplerKind::EulerAncestral: return std::min(30, timesteps);
    case SamplerKind::DPMSolverPP2MSDE: return std::min(10, timesteps);
  }
  return timesteps;
}

std::string to_string(Spacing s) {
  switch (s) {
    case Spacing::Uniform: return "uniform";
    case Spacing::Leading: return "leading";
    case Spacing::Trailing: return "trailing";
    case Spacing::LogSnr: return "logsnr";
    case Spacing::Tuned: return "tuned";
  }
  return "trailing";
}

Spacing spacing_from_string(const std::string& name) {
  if (name == "uniform") return Spacing::Uniform;
  if (name == "leading") return Spacing::Leading;
  if (name == "trailing") return Spacing::Trailing;
  if (name == "logsnr") return Spacing::LogSnr;
  if (name == "tuned") return Spacing::Tuned;
  throw Error("unknown timestep spacing '" + name + "': allowed uniform, leading, trailing, logsnr, tuned");
}

std::vector<int64_t> spaced_timesteps(int T, int steps, Spacing spacing) {
  if (spacing == Spacing::LogSnr || spacing == Spacing::Tuned) {
    throw Error("the " + to_string(spacing) + " spacing needs the noise schedule (visited_timesteps)");
  }
  std::vector<int64_t> ts(steps);
  for (int i = 0; i < steps; ++i) {
    switch (spacing) {
      case Spacing::Uniform:
        ts[i] = steps == 1 ? T - 1 : std::llround(double(i) * (T - 1) / (steps - 1));
        break;
      case Spacing::Leading:
        ts[i] = static_cast<int64_t>(i) * (T / steps);
        break;
      case Spacing::Trailing:
        ts[steps - 1 - i] = std::llround(T - double(i) * T / steps) - 1;
        break;
      case Spacing::LogSnr:  // refused above
      case Spacing::Tuned:
        break;
    }
  }
  return ts;
}

namespace {

// Spacing::Tuned's grids, highest first, as sigma = sqrt((1 - ab) / ab), kept as noise levels
// so that they mean the same on any schedule: searched with DPM-Solver++ 2M SDE on the default
// model's guidance-distilled student (tests/bench/NOTES.md). They start below T-1 on purpose:
// there an eps-predicting network's clean estimate is its noise error times 1 / sqrt(ab) (158
// at T-1 of the linear schedule), and a few-step sampler cannot forget a step built on it;
// at sigma 12-17 the marginal is still the unit Gaussian the sampler starts from.
std::vector<double> tuned_sigmas(int steps) {
  switch (steps) {
    case 1: return {12.025};
    case 2: return {12.025, 2.6357};
    case 3: return {12.025, 4.5678, 0.63968};
    case 4: return {17.379, 8.5195, 2.6357, 0.48457};
    case 5: return {17.379, 8.5195, 2.6357, 1.591, 0.48457};
    default: return {};
  }
}

// lambda(t) = log(alpha / sigma) = 0.5 log(ab / (1 - ab)) for every timestep t, in float64.
std::vector<double> log_snrs(const NoiseSchedule& schedule) {
  const torch::Tensor ab = schedule.alpha_bars.to(torch::kCPU, torch::kFloat64).contiguous();
  const double* a = ab.data_ptr<double>();
  std::vector<double> lambda(static_cast<std::size_t>(ab.numel()));
  for (std::size_t t = 0; t < lambda.size(); ++t) lambda[t] = 0.5 * std::log(a[t] / (1 - a[t]));
  return lambda;
}

// The timesteps nearest to target log signal-to-noise ratios, given falling (the grid's first,
// noisiest step first), in increasing order.
std::vector<int64_t> nearest_timesteps(const std::vector<double>& lambda, const std::vector<double>& targets) {
  const int64_t T = static_cast<int64_t>(lambda.size());
  const int steps = static_cast<int>(targets.size());
  std::vector<int64_t> ts(steps);
  int64_t t = T - 1;  // lambda falls as t rises: walk down from T - 1
  for (int i = 0; i < steps; ++i) {
    const double target = targets[i];
    while (t > 0 && std::abs(lambda[t - 1] - target) <= std::abs(lambda[t] - target)) --t;
    // Distinct and room left for the steps still to come: timestep steps-1-i at the least.
    const int64_t most = i == 0 ? T - 1 : ts[steps - i] - 1;
    ts[steps - 1 - i] = std::clamp<int64_t>(t, steps - 1 - i, most);
    t = ts[steps - 1 - i];
  }
  return ts;
}

}  // namespace

std::vector<int64_t> visited_timesteps(const NoiseSchedule& schedule, int steps, Spacing spacing) {
  const int T = schedule.timesteps();
  if (spacing != Spacing::LogSnr && spacing != Spacing::Tuned) return spaced_timesteps(T, steps, spacing);
  if (steps < 1) return {};
  const std::vector<double> sigmas = spacing == Spacing::Tuned ? tuned_sigmas(steps) : std::vector<double>{};
  // No tuned grid at this count: logsnr (and trailing where the schedule has too few timesteps).
  if (spacing == Spacing::Tuned && (sigmas.empty() || T < steps)) {
    return visited_timesteps(schedule, steps, sigmas.empty() ? Spacing::LogSnr : Spacing::Trailing);
  }
  const std::vector<double> lambda = log_snrs(schedule);
  std::vector<double> targets;
  if (spacing == Spacing::Tuned) {
    for (double sigma : sigmas) targets.push_back(-std::log(sigma));  // lambda = log(1 / sigma)
  } else {
    for (int i = 0; i < steps; ++i) targets.push_back(lambda[T - 1] + i * (lambda[0] - lambda[T - 1]) / steps);
  }
  return nearest_timesteps(lambda, targets);
}

Spacing default_spacing(SamplerKind kind, int steps) {
  switch (kind) {
    case SamplerKind::DPMSolverPP2MSDE: return steps >= 6 ? Spacing::LogSnr : Spacing::Tuned;
    // Deterministic samplers cannot forget a first step from T-1 at all (tests/bench/NOTES.md).
    case SamplerKind::DPMSolverPP2M:
    case SamplerKind::DDIM: return steps >= 6 ? Spacing::Trailing : Spacing::Tuned;
    default: return Spacing::Trailing;
  }
}

namespace {

// The step count and explicit timesteps against the schedule's length T.
void check_steps(const SampleOptions& o, int T) {
  if (o.steps < 0 || o.steps > T) {
    throw Error("steps " + std::to_string(o.steps) + " is invalid: allowed 1 to " + std::to_string(T) +
                " (the schedule's T), or 0 for the sampler's default");
  }
  const auto& ts = o.timesteps;
  if (!ts.empty() && o.steps != 0 && o.steps != static_cast<int>(ts.size())) {
    throw Error(std::to_string(ts.size()) + " timesteps given for " + std::to_string(o.steps) +
                " steps: give steps 0 or their count");
  }
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (ts[i] < 0 || ts[i] >= T) {
      throw Error("timestep " + std::to_string(ts[i]) + " is out of range: allowed 0 to " + std::to_string(T - 1));
    }
    if (i > 0 && ts[i] <= ts[i - 1]) {
      throw Error("timesteps must increase: " + std::to_string(ts[i - 1]) + " is followed by " + std::to_string(ts[i]));
    }
  }
}

}  // namespace

std::vector<int64_t> run_timesteps(const NoiseSchedule& schedule, const SampleOptions& o, SamplerKind kind) {
  const int T = schedule.timesteps();
  check_steps(o, T);
  if (!o.timesteps.empty()) return o.timesteps;
  return visited_timesteps(schedule, o.steps == 0 ? default_steps(kind, T) : o.steps, o.spacing);
}

GuidanceInterval default_guidance_interval(SamplerKind kind) {
  return kind == SamplerKind::DPMSolverPP2MSDE ? GuidanceInterval{0.0f, 20.0f} : GuidanceInterval{};
}

void check_class(int64_t c, const UNetConfig& model) {
  if (c >= 0 && !model.conditional()) {
    throw Error("class " + std::to_string(c) + " given to an unconditional model: only -1 (none) is allowed");
  }
  if (c < -1 || c >= model.num_classes) {
    throw Error("class " + std::to_string(c) + " is out of range: allowed -1 (none) to " +
                std::to_string(model.num_classes - 1));
  }
}

void check_guidance(float guidance) {
  if (!(guidance >= 0) || !std::isfinite(guidance)) {
    throw Error("guidance scale " + number_text(guidance) + " is invalid: allowed 0 (unconditional) or more, finite");
  }
}

void validate(const SampleOptions& o, const UNetConfig& model, int timesteps) {
  if (o.batch < 1 || o.batch > 4096) {
    throw Error("batch size " + std::to_string(o.batch) + " is invalid: allowed 1 to 4096");
  }
  check_steps(o, timesteps);
  check_guidance(o.guidance);
  check_guidance_interval(o.guidance_interval);
  if (!(o.alpha_cutoff < 1)) {  // NaN too
    throw Error("alpha cutoff " + number_text(o.alpha_cutoff) + " is invalid: allowed 0 to below 1 (negative: the model's)");
  }
  if (!(o.guidance_rescale >= 0 && o.guidance_rescale <= 1)) {
    throw Error("guidance rescale " + number_text(o.guidance_rescale) + " is invalid: allowed 0 to 1");
  }
  if (model.guidance_input && o.guidance_rescale > 0) {
    throw Error("guidance rescale " + number_text(o.guidance_rescale) +
                " needs separate conditional and unconditional predictions; this model has guidance distilled in: use 0");
  }
  if (!(o.eta >= 0 && o.eta <= 1)) throw Error("eta " + number_text(o.eta) + " is invalid: allowed 0 to 1");
  if (!(o.strength >= 0 && o.strength <= 1)) {
    throw Error("strength " + number_text(o.strength) + " is invalid: allowed 0 to 1");
  }
  if (!(o.variation_strength >= 0 && o.variation_strength <= 1)) {
    throw Error("variation strength " + number_text(o.variation_strength) + " is invalid: allowed 0 to 1");
  }
  if (o.resample < 1 || o.resample > 100) {
    throw Error("resample count " + std::to_string(o.resample) + " is invalid: allowed 1 to 100");
  }
  if (!o.seeds.empty() && static_cast<int>(o.seeds.size()) != o.batch) {
    throw Error(std::to_string(o.seeds.size()) + " seeds given for a batch of " +
                std::to_string(o.batch) + ": give none or one per image");
  }
  if (!o.classes.empty() && o.classes.size() != 1 && static_cast<int>(o.classes.size()) != o.batch) {
    throw Error(std::to_string(o.classes.size()) + " class labels given for a batch of " +
                std::to_string(o.batch) + ": give none, one, or one per image");
  }
  for (int64_t c : o.classes) check_class(c, model);
  const auto check_image = [&](const torch::Tensor& t, const char* what, int64_t channels) {
    if (!t.defined()) return;
    const bool shape_ok = (t.dim() == 4 || t.dim() == 3) && t.size(-3) == channels &&
                          t.size(-1) > 0 && t.size(-2) > 0 &&
                          (t.dim() == 3 || t.size(0) == 1 || t.size(0) == o.batch);
    if (!shape_ok) {
      throw Error(std::string(what) + " has shape " + c10::str(t.sizes()) + ": expected [1 or " +
                  std::to_string(o.batch) + ", " + std::to_string(channels) + ", H, W]");
    }
  };
  check_image(o.init_image, "init image", model.in_channels);
  check_image(o.initial_noise, "initial noise", model.in_channels);
  check_image(o.mask, "inpainting mask", 1);
  if (o.mask.defined() && !o.init_image.defined()) {
    throw Error("an inpainting mask needs an init image (the known pixels)");
  }
  if (o.mask.defined() && o.init_image.defined() && o.mask.size(-1) != o.init_image.size(-1)) {
    throw Error("inpainting mask is " + std::to_string(o.mask.size(-1)) + "x" +
                std::to_string(o.mask.size(-2)) + " but the init image is " +
                std::to_string(o.init_image.size(-1)) + "x" + std::to_string(o.init_image.size(-2)) +
                ": they must have the same size");
  }
}

NoisePredictor guided_predictor(UNet& model, const NoiseSchedule& schedule, const SampleOptions& o) {
  std::vector<int64_t> classes(o.batch, -1);
  for (int i = 0; i < o.batch && !o.classes.empty(); ++i) {
    classes[i] = o.classes.size() == 1 ? o.classes[0] : o.classes[i];
  }
  const std::vector<float> guidance(o.batch, o.guidance);
  const torch::Tensor alpha_bars = schedule.alpha_bars.to(torch::kCPU, torch::kFloat64);
  return [model, classes, guidance, alpha_bars, interval = o.guidance_interval, rescale = o.guidance_rescale,
          tiling = o.tiling](const torch::Tensor& x, const torch::Tensor& t) mutable {
    return predict_noise(model, x, t, classes, guidance_at(guidance, t, alpha_bars, interval, model->config()),
                         rescale, tiling);
  };
}

torch::Tensor clear_faint_alpha(const torch::Tensor& images, float cutoff) {
  if (!(cutoff > 0) || images.dim() != 4 || images.size(1) != 4) return images;
  const torch::Tensor faint = images.select(1, 3).lt(2 * cutoff - 1).unsqueeze(1);
  return images.masked_fill(faint, -1.0);
}

SampleResult sample(UNet& model, const NoiseSchedule& schedule, const SampleOptions& o,
                    const StepObserver& observer, const std::atomic<bool>* cancel) {
  const UNetConfig& cfg = model->config();
  validate(o, cfg, schedule.timesteps());
  model->eval();
  return sample(guided_predictor(model, schedule, o), schedule, o, {cfg.in_channels, cfg.image_size, cfg.image_size},
                model->parameters().front().device(), observer, cancel);
}

SampleResult sample(const NoisePredictor& predict, const NoiseSchedule& schedule,
                    const SampleOptions& o, const std::vector<int64_t>& shape, torch::Device device,
                    const StepObserver& observer, const std::atomic<bool>* cancel) {
  if (o.batch < 1) throw Error("batch size " + std::to_string(o.batch) + " is invalid");
  const std::vector<int64_t> ts = run_timesteps(schedule, o, o.sampler);
  const int steps = static_cast<int>(ts.size());
  const torch::Tensor ab_table = schedule.alpha_bars.to(torch::kCPU, torch::kFloat64);
  const auto ab_at = [&](int i) { return i < 0 ? 1.0 : ab_table[ts[i]].item<double>(); };

  SampleResult r;
  NoiseSource noise(image_seeds(o, o.seed, true), shape, device);
  noise.vary(image_seeds(o, o.variation_seed, false), o.variation_strength);
  torch::Tensor x = noise.draw();
  if (o.initial_noise.defined()) x = fit(o.initial_noise, o.batch, shape[1], "initial noise", device, r.warnings);
  torch::Tensor init, mask;
  if (o.init_image.defined()) init = fit(o.init_image, o.batch, shape[1], "init image", device, r.warnings);
  if (o.mask.defined()) mask = fit(o.mask, o.batch, shape[1], "inpainting mask", device, r.warnings).clamp(0, 1);

  // Image-to-image runs only the last `strength` part of the schedule, from the init image
  // noised to that level. Inpainting without img2img starts from pure noise.
  int first = steps - 1;
  if (init.defined() && !mask.defined()) {
    first = static_cast<int>(std::lround(o.strength * steps)) - 1;
    if (first < 0) {
      r.images = init;
      return r;
    }
    x = std::sqrt(ab_at(first)) * init + std::sqrt(1 - ab_at(first)) * x;
  }

  c10::InferenceMode inference;
  steps::DpmSolverPP2M dpm;
  const steps::Rule rule{o.sampler, o.eta, o.variance, o.clip_x0, o.first_order};
  const auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(device);
  const int total = first + 1;
  for (int i = first; i >= 0; --i) {
    const double ab = ab_at(i), ab_prev = ab_at(i - 1);
    const torch::Tensor t = torch::full({o.batch}, ts[i], long_opts);
    torch::Tensor x0;
    for (int round = 0; round < (mask.defined() && i > 0 ? o.resample : 1); ++round) {
      if (cancel && cancel->load(std::memory_order_relaxed)) {
        r.cancelled = true;
        r.images = x;
        return r;
      }
      if (mask.defined()) {  // the known pixels, noised to the current level
        const torch::Tensor known = std::sqrt(ab) * init + std::sqrt(1 - ab) * noise.draw();
        x = mask * known + (1 - mask) * x;
      }
      const torch::Tensor eps = predict(x, t);
      // Noise for ancestral updates; the last step adds none.
      const torch::Tensor z = ab_prev < 1.0 ? noise.draw() : torch::zeros_like(x);
      x = steps::denoise(rule, x, eps, ab, ab_prev, z, dpm, x0);
      // RePaint: go back up one step with fresh noise and redo it (not after the last round).
      if (mask.defined() && i > 0 && round + 1 < o.resample) {
        x = std::sqrt(ab / ab_prev) * x + std::sqrt(1 - ab / ab_prev) * noise.draw();
      }
    }
    if (i == 0) {  // the finished image: faint alpha cleared, then inpainting's known pixels back
      x = clear_faint_alpha(x, o.alpha_cutoff);
      if (mask.defined()) x = mask * init + (1 - mask) * x;
    }
    ++r.steps_done;
    if (observer) observer(StepView{r.steps_done, total, ts[i], x, x0});
  }
  r.images = x;
  return r;
}

torch::Tensor ddim_invert(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& images,
                          const SampleOptions& o) {
  const UNetConfig& cfg = model->config();
  SampleOptions v = o;
  v.batch = static_cast<int>(images.size(0));
  validate(v, cfg, schedule.timesteps());
  const std::vector<int64_t> ts = run_timesteps(schedule, o, SamplerKind::DDIM);
  const int steps = static_cast<int>(ts.size());
  const torch::Tensor ab_table = schedule.alpha_bars.to(torch::kCPU, torch::kFloat64);
  std::vector<int64_t> classes(v.batch, -1);
  for (int i = 0; i < v.batch && !o.classes.empty(); ++i) {
    classes[i] = o.classes.size() == 1 ? o.classes[0] : o.classes[i];
  }
  const std::vector<float> guidance(v.batch, o.guidance);
  model->eval();
  c10::InferenceMode inference;
  const torch::Device device = model->parameters().front().device();
  torch::Tensor x = images.to(device, torch::kFloat32);
  // Walk the DDIM update backwards: from ts[i-1] (or the clean image) up to ts[i], predicting
  // the noise at the lower level as the deterministic sampler's reverse.
  for (int i = 0; i < steps; ++i) {
    const double ab_from = i == 0 ? 1.0 : ab_table[ts[i - 1]].item<double>();
    const double ab_to = ab_table[ts[i]].item<double>();
    const int64_t t_eval = i == 0 ? ts[0] : ts[i - 1];
    const torch::Tensor t = torch::full({v.batch}, t_eval, torch::TensorOptions().dtype(torch::kLong).device(device));
    const torch::Tensor eps = predict_noise(model, x, t, classes, guidance, o.guidance_rescale, o.tiling);
    const torch::Tensor x0 = i == 0 ? x : (x - std::sqrt(1 - ab_from) * eps) / std::sqrt(ab_from);
    x = std::sqrt(ab_to) * x0 + std::sqrt(1 - ab_to) * eps;
  }
  return x;
}

}  // namespace ddpm
