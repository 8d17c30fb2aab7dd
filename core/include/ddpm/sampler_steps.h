#pragma once
// The update rules of the samplers between two visited timesteps, written with the cumulative
// products ab = alpha_bar_t of the current timestep and ab_prev of the next one to visit
// (1 after the last step), so that any spacing of the T timesteps works for every sampler.
#include <torch/torch.h>

#include "ddpm/sampler.h"
#include "ddpm/schedule_config.h"

namespace ddpm::steps {

// DDPM ancestral between two visited timesteps: the chain respaced with
// beta' = 1 - ab / ab_prev; with ab_prev = alpha_bar_{t-1} it is exactly Algorithm 2.
// Uses the posterior mean of x0 (equal to Algorithm 2's form for the unclipped estimate).
torch::Tensor ddpm(const torch::Tensor& x, const torch::Tensor& x0, double ab, double ab_prev,
                   const torch::Tensor& z, Variance variance);

// DDIM (Song et al. 2021): sigma = eta sqrt((1 - ab_prev) / (1 - ab)) sqrt(1 - ab / ab_prev).
torch::Tensor ddim(const torch::Tensor& x0, const torch::Tensor& eps, double ab, double ab_prev,
                   double eta, const torch::Tensor& z);

// Euler ancestral in the variance-exploding view x / sqrt(ab), sigma = sqrt((1 - ab) / ab).
torch::Tensor euler_ancestral(const torch::Tensor& x, const torch::Tensor& eps, double ab,
                              double ab_prev, const torch::Tensor& z);

// DPM-Solver++ 2M (Lu et al. 2022), data prediction, multistep: keeps the previous x0 and
// step size. The first step and the step to t = 0 are first order.
class DpmSolverPP2M {
 public:
  torch::Tensor step(const torch::Tensor& x, const torch::Tensor& x0, double ab, double ab_prev);
  // The SDE variant (DPM-Solver++(2M) SDE, the paper's stochastic multistep solver, with the
  // midpoint correction): x' = (s'/s) e^-h x + a' (1 - e^-2h) D + s' sqrt(1 - e^-2h) z. The
  // fresh noise at every step corrects a network's errors the way ancestral sampling does.
  torch::Tensor step_sde(const torch::Tensor& x, const torch::Tensor& x0, double ab, double ab_prev,
                         const torch::Tensor& z);
  void reset() { prev_x0_ = torch::Tensor(); }

 private:
  // h = lambda_next - lambda, lambda = log(alpha / sigma), alpha = sqrt(ab), sigma = sqrt(1 - ab).
  static double log_snr_step(double ab, double ab_prev);
  // Both variants' second-order data prediction D = x0 + (x0 - x0_prev) / (2 r), r = h_prev / h
  // (x0 itself on the first step); remembers x0 and h for the next step.
  torch::Tensor data_prediction(const torch::Tensor& x0, double h);
  torch::Tensor prev_x0_;
  double prev_h_ = 0;
};

// One step of any sampler from the model's noise prediction `eps` at x (level ab) to the next
// visited level ab_prev: the one place where a prediction becomes an update, shared by the
// batch sampler and the stream. Sets x0 to the clean-image estimate (clamped with clip_x0);
// `z` is the step's noise (used by the ancestral rules only); `dpm` holds DPM-Solver++'s history.
struct Rule {
  SamplerKind sampler = SamplerKind::DDIM;
  float eta = 0.0f;
  Variance variance = Variance::Beta;
  bool clip_x0 = false;
  bool first_order = false;  // DPM-Solver++ SDE without the second-order history (distilled models)
};
torch::Tensor denoise(const Rule& rule, const torch::Tensor& x, const torch::Tensor& eps, double ab,
                      double ab_prev, const torch::Tensor& z, DpmSolverPP2M& dpm, torch::Tensor& x0);

}  // namespace ddpm::steps
