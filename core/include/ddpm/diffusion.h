#pragma once
// The closed forms of DDPM (Ho et al. 2020) on batches. Every function takes a timestep per
// sample (`t`: int64 tensor of shape [B]) so one batch may hold images at different stages.
#include <torch/torch.h>

#include <string>

#include "ddpm/schedule.h"

namespace ddpm {

// coef[t] shaped [B, 1, 1, 1] to broadcast over images.
torch::Tensor extract(const torch::Tensor& coef, const torch::Tensor& t);

// x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps
torch::Tensor q_sample(const NoiseSchedule& s, const torch::Tensor& x0, const torch::Tensor& t,
                       const torch::Tensor& eps);
// x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t): inverts q_sample exactly.
torch::Tensor predict_x0(const NoiseSchedule& s, const torch::Tensor& xt, const torch::Tensor& t,
                         const torch::Tensor& eps);
// Mean of q(x_{t-1} | x_t, x0).
torch::Tensor posterior_mean(const NoiseSchedule& s, const torch::Tensor& x0,
                             const torch::Tensor& xt, const torch::Tensor& t);
// sigma_t^2 of the chosen kind, shaped [B, 1, 1, 1].
torch::Tensor reverse_variance(const NoiseSchedule& s, const torch::Tensor& t, Variance v);

// One ancestral step, Algorithm 2:
//   x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) + sigma_t z,
// with no noise added where t == 0.
torch::Tensor reverse_step(const NoiseSchedule& s, const torch::Tensor& xt, const torch::Tensor& t,
                           const torch::Tensor& eps, const torch::Tensor& z, Variance v);

}  // namespace ddpm
