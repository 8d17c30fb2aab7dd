#include "ddpm/schedule.h"

#include <cmath>

#include "ddpm/io/error.h"

namespace ddpm {
namespace {

torch::Tensor as_f32(const std::vector<double>& v) {
  return torch::tensor(v, torch::kFloat64).to(torch::kFloat32);
}

}  // namespace

std::vector<double> schedule_betas(const ScheduleConfig& c) {
  c.validate();
  const int T = c.timesteps;
  std::vector<double> betas(T);
  if (c.kind == ScheduleKind::Linear) {
    for (int t = 0; t < T; ++t) {
      betas[t] = T == 1 ? c.beta_start : c.beta_start + (c.beta_end - c.beta_start) * t / (T - 1);
    }
  } else {
    // Improved DDPM: alpha_bar(t) = f(t) / f(0), f(t) = cos^2(((t/T) + s) / (1 + s) * pi/2),
    // beta clipped at 0.999 to avoid the singularity at t = T.
    const auto f = [&](double t) {
      const double v = std::cos((t / T + c.cosine_s) / (1 + c.cosine_s) * M_PI / 2);
      return v * v;
    };
    for (int t = 0; t < T; ++t) betas[t] = std::min(1 - f(t + 1) / f(t), 0.999);
  }
  return betas;
}

NoiseSchedule make_schedule_from_betas(const ScheduleConfig& config,
                                       const std::vector<double>& betas) {
  const std::size_t T = betas.size();
  if (T == 0) throw Error("a noise schedule needs at least one timestep");
  std::vector<double> alpha(T), ab(T), ab_prev(T), s_ab(T), s_1mab(T), rs_a(T), eps_c(T),
      post_var(T), c_x0(T), c_xt(T);
  double prod = 1.0;
  for (std::size_t t = 0; t < T; ++t) {
    if (!(betas[t] > 0 && betas[t] < 1)) {
      throw Error("schedule beta[" + std::to_string(t) + "] = " + std::to_string(betas[t]) +
                  " is outside (0, 1)");
    }
    alpha[t] = 1 - betas[t];
    ab_prev[t] = prod;
    prod *= alpha[t];
    ab[t] = prod;
    s_ab[t] = std::sqrt(ab[t]);
    s_1mab[t] = std::sqrt(1 - ab[t]);
    rs_a[t] = 1 / std::sqrt(alpha[t]);
    eps_c[t] = betas[t] / s_1mab[t];
    post_var[t] = (1 - ab_prev[t]) / (1 - ab[t]) * betas[t];
    c_x0[t] = betas[t] * std::sqrt(ab_prev[t]) / (1 - ab[t]);
    c_xt[t] = (1 - ab_prev[t]) * std::sqrt(alpha[t]) / (1 - ab[t]);
  }
  NoiseSchedule s;
  s.config = config;
  s.config.timesteps = static_cast<int>(T);
  s.betas = as_f32(betas);
  s.alphas = as_f32(alpha);
  s.alpha_bars = as_f32(ab);
  s.alpha_bars_prev = as_f32(ab_prev);
  s.sqrt_alpha_bars = as_f32(s_ab);
  s.sqrt_one_minus_alpha_bars = as_f32(s_1mab);
  s.sqrt_recip_alphas = as_f32(rs_a);
  s.eps_coef = as_f32(eps_c);
  s.posterior_variance = as_f32(post_var);
  s.posterior_mean_coef_x0 = as_f32(c_x0);
  s.posterior_mean_coef_xt = as_f32(c_xt);
  return s;
}

NoiseSchedule make_schedule(const ScheduleConfig& config) {
  return make_schedule_from_betas(config, schedule_betas(config));
}

NoiseSchedule NoiseSchedule::to(const torch::Device& device) const {
  NoiseSchedule s = *this;
  for (torch::Tensor* t : {&s.betas, &s.alphas, &s.alpha_bars, &s.alpha_bars_prev,
                           &s.sqrt_alpha_bars, &s.sqrt_one_minus_alpha_bars, &s.sqrt_recip_alphas,
                           &s.eps_coef, &s.posterior_variance, &s.posterior_mean_coef_x0,
                           &s.posterior_mean_coef_xt}) {
    *t = t->to(device);
  }
  return s;
}

}  // namespace ddpm
