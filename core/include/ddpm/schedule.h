#pragma once
// Noise schedules of DDPM: beta_t, alpha_t, alpha_bar_t and the posterior coefficients,
// computed in float64 and kept as float32 tensors. Timesteps are 0-based: index t holds the
// paper's beta_{t+1}, so alpha_bar[T-1] is the product over all T steps.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "ddpm/schedule_config.h"

namespace ddpm {

struct NoiseSchedule {
  ScheduleConfig config;
  // All 1-D float32 tensors of length T on `device`.
  torch::Tensor betas, alphas, alpha_bars, alpha_bars_prev;
  torch::Tensor sqrt_alpha_bars, sqrt_one_minus_alpha_bars;
  torch::Tensor sqrt_recip_alphas;            // 1 / sqrt(alpha_t)
  torch::Tensor eps_coef;                     // beta_t / sqrt(1 - alpha_bar_t) (Algorithm 2)
  torch::Tensor posterior_variance;           // beta_tilde_t; 0 at t = 0
  torch::Tensor posterior_mean_coef_x0;       // beta_t sqrt(alpha_bar_{t-1}) / (1 - alpha_bar_t)
  torch::Tensor posterior_mean_coef_xt;       // (1 - alpha_bar_{t-1}) sqrt(alpha_t) / (1 - alpha_bar_t)

  int timesteps() const { return config.timesteps; }
  NoiseSchedule to(const torch::Device& device) const;
};

// Builds a schedule from float64 betas (any positive values below 1).
NoiseSchedule make_schedule_from_betas(const ScheduleConfig& config,
                                       const std::vector<double>& betas);
NoiseSchedule make_schedule(const ScheduleConfig& config = {});

// The float64 betas a config describes.
std::vector<double> schedule_betas(const ScheduleConfig& config);

}  // namespace ddpm
