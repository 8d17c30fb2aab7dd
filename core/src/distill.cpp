#include "ddpm/distill.h"

#include <algorithm>
#include <cmath>

#include "ddpm/guidance.h"
#include "ddpm/io/error.h"
#include "ddpm/sampler.h"

namespace ddpm {
namespace {

constexpr double kMaxLossWeight = 100;

// alpha_bar at each row's timestep, 1 for -1 (the clean image), [B, 1, 1, 1] float32.
torch::Tensor alpha_bar_at(const NoiseSchedule& schedule, const torch::Tensor& t) {
  const torch::Tensor ab = schedule.alpha_bars.index_select(0, t.clamp_min(0));
  return torch::where(t < 0, torch::ones_like(ab), ab).view({-1, 1, 1, 1});
}

// Per-image guidance scales drawn from the spec's range; 1 where an image has no class (as
// predict_noise gives it).
std::vector<float> draw_scales(const std::vector<int64_t>& labels, const DistillSpec& spec, at::Generator& gen) {
  const torch::Tensor w = torch::rand({static_cast<int64_t>(labels.size())}, gen, torch::kFloat32) *
                              (spec.guidance_max - spec.guidance_min) + spec.guidance_min;
  std::vector<float> scales(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) scales[i] = 1.0f;
  }
  return scales;
}

// The rows' paths a substep at a time: rows step together, and a row whose path is shorter
// (a short span merges points) repeats its last point, a zero-length step that leaves it.
struct PathColumns {
  const std::vector<std::vector<int64_t>>& paths;
  torch::Device device;
  size_t longest() const {
    size_t n = 0;
    for (const auto& p : paths) n = std::max(n, p.size());
    return n;
  }
  torch::Tensor operator()(size_t j) const {
    std::vector<int64_t> t(paths.size());
    for (size_t i = 0; i < paths.size(); ++i) t[i] = paths[i][std::min(j, paths[i].size() - 1)];
    return torch::tensor(t, torch::kLong).to(device);
  }
};

std::vector<int64_t> labels_of(const torch::Tensor& y) {
  const torch::Tensor c = y.to(torch::kCPU).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace

torch::Tensor ddim_walk(const NoisePredictor& predict, const NoiseSchedule& schedule, torch::Tensor z,
                        const std::vector<std::vector<int64_t>>& paths) {
  const PathColumns column{paths, z.device()};
  const size_t longest = column.longest();
  for (size_t j = 0; j + 1 < longest; ++j) {
    const torch::Tensor t = column(j), t_next = column(j + 1);
    const torch::Tensor ab = alpha_bar_at(schedule, t), ab_next = alpha_bar_at(schedule, t_next);
    // A row already at the clean image (t = -1) is not stepped; its prediction is not used.
    const torch::Tensor e = predict(z, t.clamp_min(0));
    const torch::Tensor x = ((z - (1 - ab).sqrt() * e) / ab.sqrt()).clamp(-1, 1);
    const torch::Tensor e_clipped = (z - ab.sqrt() * x) / (1 - ab).sqrt().clamp_min(1e-12);
    const torch::Tensor stepped = ab_next.sqrt() * x + (1 - ab_next).sqrt() * e_clipped;
    z = torch::where((t == t_next).view({-1, 1, 1, 1}), z, stepped);
  }
  return z;
}

namespace {

// First-order DPM-Solver++ SDE coefficients from alpha_bar `ab` to `ab_next` per row:
// e^-h = a s' / (s a'), c_x = (s'/s) e^-h, c_D = a' (1 - e^-2h), noise s' sqrt(1 - e^-2h).
struct SdeStep {
  torch::Tensor c_x, c_d, noise;
};
SdeStep sde_step(const torch::Tensor& ab, const torch::Tensor& ab_next) {
  const torch::Tensor a = ab.sqrt(), s = (1 - ab).sqrt(), a2 = ab_next.sqrt(), s2 = (1 - ab_next).sqrt();
  const torch::Tensor e = a * s2 / (s * a2);
  const torch::Tensor keep = 1 - e * e;
  return {s2 / s * e, a2 * keep, s2 * keep.clamp_min(0).sqrt()};
}

}  // namespace

std::vector<torch::Tensor> path_noise(const std::vector<std::vector<int64_t>>& paths, at::IntArrayRef shape,
                                      at::Generator& gen) {
  std::vector<torch::Tensor> noise;
  const size_t longest = PathColumns{paths, torch::kCPU}.longest();
  for (size_t j = 0; j + 1 < longest; ++j) noise.push_back(torch::randn(shape, gen, torch::kFloat32));
  return noise;
}

torch::Tensor sde_target(const NoisePredictor& predict, const NoiseSchedule& schedule, torch::Tensor z,
                         const std::vector<std::vector<int64_t>>& paths, const std::vector<torch::Tensor>& noise) {
  const PathColumns column{paths, z.device()};
  const size_t longest = column.longest();
  if (noise.size() + 1 < longest) throw Error("sde_target: noise for fewer steps than the longest path has");
  torch::Tensor made = torch::zeros_like(z);  // S
  torch::Tensor prev_d, prev_h;
  for (size_t j = 0; j + 1 < longest; ++j) {
    const torch::Tensor t = column(j), t_next = column(j + 1);
    const torch::Tensor ab = alpha_bar_at(schedule, t), ab_next = alpha_bar_at(schedule, t_next);
    const SdeStep c = sde_step(ab, ab_next);
    const torch::Tensor e = predict(z, t.clamp_min(0));
    const torch::Tensor estimate = ((z - (1 - ab).sqrt() * e) / ab.sqrt()).clamp(-1, 1);
    const torch::Tensor n = noise[j].to(z.device());
    const torch::Tensor moving = (t != t_next).view({-1, 1, 1, 1});  // shorter paths wait at their end
    // The sampler's second-order estimate (DpmSolverPP2M::data_prediction): from the path's
    // second substep on, extrapolated from the one before by the ratio of their log-SNR steps;
    // the last step to the clean image takes the estimate as it is, as the sampler does.
    const torch::Tensor to_clean = (t_next < 0).view({-1, 1, 1, 1});
    const torch::Tensor h = torch::where(to_clean | ~moving, torch::ones_like(ab),
                                         0.5 * (ab_next / (1 - ab_next)).log() - 0.5 * (ab / (1 - ab)).log());
    torch::Tensor d = estimate;
    if (prev_d.defined()) {
      const torch::Tensor k = h / (2 * prev_h);  // 1 / 2r, r = prev_h / h
      d = torch::where(to_clean, estimate, (1 + k) * estimate - k * prev_d);
    }
    prev_d = estimate;
    prev_h = h;
    made = torch::where(moving, c.c_x * made + c.c_d * d, made);
    z = torch::where(moving, c.c_x * z + c.c_d * d + c.noise * n, z);
  }
  const torch::Tensor first = column(0), last = column(longest - 1);
  return made / sde_step(alpha_bar_at(schedule, first), alpha_bar_at(schedule, last)).c_d;
}

torch::Tensor one_step_target(const NoiseSchedule& schedule, const torch::Tensor& z0, const torch::Tensor& t0,
                              const torch::Tensor& z_end, const torch::Tensor& t_end) {
  const torch::Tensor ab0 = alpha_bar_at(schedule, t0), ab_end = alpha_bar_at(schedule, t_end);
  const torch::Tensor ratio = (1 - ab_end).sqrt() / (1 - ab0).sqrt();
  return (z_end - ratio * z0) / (ab_end.sqrt() - ratio * ab0.sqrt());
}

Spacing default_student_spacing(bool stochastic) { return stochastic ? Spacing::Tuned : Spacing::Trailing; }

std::vector<int64_t> student_grid(const NoiseSchedule& schedule, int steps, Spacing spacing) {
  std::vector<int64_t> grid = visited_timesteps(schedule, steps, spacing);
  std::reverse(grid.begin(), grid.end());
  grid.push_back(-1);
  return grid;
}

std::vector<int64_t> teacher_path(int64_t from, int64_t to, int substeps) {
  std::vector<int64_t> path{from};
  for (int j = 1; j < substeps; ++j) {
    const int64_t t = from - static_cast<int64_t>(std::llround(double(j) * double(from - to) / substeps));
    if (t < path.back() && t > to) path.push_back(t);  // a short span has fewer distinct points
  }
  path.push_back(to);
  return path;
}

io::ModelInfo student_info(const io::ModelInfo& teacher, const DistillSpec& spec) {
  const int T = teacher.schedule.timesteps;
  if (spec.steps < 0 || spec.steps > T) {
    throw Error("distillation steps " + std::to_string(spec.steps) + " is invalid: allowed 0 (guidance only) to " +
                std::to_string(T));
  }
  if (spec.substeps < 1 || spec.substeps > 64) {
    throw Error("distillation substeps " + std::to_string(spec.substeps) + " is invalid: allowed 1 to 64");
  }
  if (!(spec.guidance_min >= 1 && spec.guidance_min <= spec.guidance_max && spec.guidance_max <= 100)) {
    throw Error("distillation guidance range " + number_text(spec.guidance_min) + " to " + number_text(spec.guidance_max) +
                " is invalid: need 1 <= min <= max <= 100");
  }
  if (!teacher.unet.conditional()) {
    throw Error("distillation needs a class-conditional teacher (classifier-free guidance is folded into the student)");
  }
  if (teacher.unet.guidance_input &&
      (spec.guidance_min < teacher.guidance_min || spec.guidance_max > teacher.guidance_max)) {
    throw Error("distillation guidance range " + number_text(spec.guidance_min) + " to " + number_text(spec.guidance_max) +
                " is outside the teacher's " + number_text(teacher.guidance_min) + " to " +
                number_text(teacher.guidance_max));
  }
  if (spec.spacing != Spacing::Trailing && spec.spacing != Spacing::Tuned) {
    throw Error("a student's grid is trailing or tuned, not " + to_string(spec.spacing));
  }
  const std::string sampler = spec.stochastic ? "dpmpp2m_sde" : "ddim";
  if (teacher.distilled() && teacher.distilled_sampler != sampler) {
    throw Error("the teacher is distilled for " + teacher.distilled_sampler + " steps: its student must be too");
  }
  if (teacher.distilled() && (spec.steps == 0 || spec.steps >= teacher.distilled_steps)) {
    throw Error("the teacher is already distilled for " + std::to_string(teacher.distilled_steps) +
                " steps: a student needs fewer (e.g. " + std::to_string(std::max(1, teacher.distilled_steps / 2)) + ")");
  }
  io::ModelInfo s = teacher;
  s.unet.guidance_input = true;
  s.distilled_steps = spec.steps;
  s.distilled_sampler = sampler;
  s.distilled_spacing = spec.steps > 0 ? to_string(spec.spacing) : "trailing";
  s.guidance_min = spec.guidance_min;
  s.guidance_max = spec.guidance_max;
  s.guidance = std::clamp(teacher.guidance, spec.guidance_min, spec.guidance_max);
  s.training_step = 0;
  s.snr_gamma = 0;
  s.validate();
  return s;
}

DistillDraws DistillDraws::slice(int64_t start, int64_t size) const {
  DistillDraws d{t0.narrow(0, start, size), eps.narrow(0, start, size),
                 std::vector<float>(scales.begin() + start, scales.begin() + start + size), {}, {}};
  if (!paths.empty()) d.paths.assign(paths.begin() + start, paths.begin() + start + size);
  for (const torch::Tensor& n : noise) d.noise.push_back(n.narrow(0, start, size));
  return d;
}

DistillDraws draw_distillation_rows(const NoiseSchedule& schedule, const torch::Tensor& x0, const torch::Tensor& y,
                                    const DistillSpec& spec, at::Generator& gen) {
  const int64_t B = x0.size(0);
  DistillDraws d;
  // Guidance only: the timestep itself; step distillation: the student's step on its grid.
  const torch::Tensor k = torch::randint(spec.steps == 0 ? schedule.timesteps() : spec.steps, {B}, gen, torch::kLong);
  d.eps = torch::randn(x0.sizes(), gen, torch::kFloat32);
  d.scales = draw_scales(labels_of(y), spec, gen);
  if (spec.steps == 0) {
    d.t0 = k;
    return d;
  }
  const std::vector<int64_t> grid = student_grid(schedule, spec.steps, spec.spacing);
  std::vector<int64_t> first(B);
  d.paths.resize(B);
  for (int64_t i = 0; i < B; ++i) {
    const int64_t idx = k[i].item<int64_t>();
    d.paths[i] = teacher_path(grid[idx], grid[idx + 1], spec.substeps);
    first[i] = d.paths[i].front();
  }
  d.t0 = torch::tensor(first, torch::kLong);
  if (spec.stochastic) d.noise = path_noise(d.paths, x0.sizes(), gen);
  return d;
}

torch::Tensor distillation_loss_drawn(UNet& student, UNet& teacher, const NoiseSchedule& schedule,
                                      const torch::Tensor& x0, const torch::Tensor& y, const DistillDraws& draws,
                                      const DistillSpec& spec) {
  const torch::Device device = x0.device();
  const std::vector<int64_t> labels = labels_of(y);
  const torch::Tensor t0 = draws.t0.to(device);
  const torch::Tensor ab0 = alpha_bar_at(schedule, t0);
  const torch::Tensor z0 = ab0.sqrt() * x0 + (1 - ab0).sqrt() * draws.eps.to(device);
  const torch::Tensor w = torch::tensor(draws.scales).to(device);
  torch::Tensor target;  // guidance only: the noise; step distillation: the clean image
  {
    torch::NoGradGuard no_grad;
    const NoisePredictor predict = [&](const torch::Tensor& z, const torch::Tensor& t) {
      return predict_noise(teacher, z, t, labels, draws.scales);
    };
    if (spec.steps == 0) {
      target = predict(z0, t0);
    } else if (spec.stochastic) {
      target = sde_target(predict, schedule, z0, draws.paths, draws.noise);
    } else {
      std::vector<int64_t> last(draws.paths.size());
      for (size_t i = 0; i < last.size(); ++i) last[i] = draws.paths[i].back();
      const torch::Tensor t_end = torch::tensor(last, torch::kLong).to(device);
      target = one_step_target(schedule, z0, t0, ddim_walk(predict, schedule, z0, draws.paths), t_end);
    }
  }
  const torch::Tensor out = student->forward(z0, t0, y, false, w);
  if (spec.steps == 0) return torch::mse_loss(out, target);
  const torch::Tensor eps_target = (z0 - ab0.sqrt() * target) / (1 - ab0).sqrt();
  const torch::Tensor weight = (1 / (ab0 / (1 - ab0))).clamp(1, kMaxLossWeight).view({-1});
  return ((out - eps_target).pow(2).mean({1, 2, 3}) * weight).mean();
}

torch::Tensor distillation_loss(UNet& student, UNet& teacher, const NoiseSchedule& schedule,
                                const torch::Tensor& x0, const torch::Tensor& y, const DistillSpec& spec,
                                at::Generator& gen) {
  teacher->eval();
  return distillation_loss_drawn(student, teacher, schedule, x0, y, draw_distillation_rows(schedule, x0, y, spec, gen),
                                 spec);
}

}  // namespace ddpm
