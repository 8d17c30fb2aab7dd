#include "ddpm/diffusion.h"

namespace ddpm {

torch::Tensor extract(const torch::Tensor& coef, const torch::Tensor& t) {
  return coef.index_select(0, t.to(coef.device(), torch::kLong)).view({-1, 1, 1, 1});
}

torch::Tensor q_sample(const NoiseSchedule& s, const torch::Tensor& x0, const torch::Tensor& t,
                       const torch::Tensor& eps) {
  return extract(s.sqrt_alpha_bars, t) * x0 + extract(s.sqrt_one_minus_alpha_bars, t) * eps;
}

torch::Tensor predict_x0(const NoiseSchedule& s, const torch::Tensor& xt, const torch::Tensor& t,
                         const torch::Tensor& eps) {
  return (xt - extract(s.sqrt_one_minus_alpha_bars, t) * eps) / extract(s.sqrt_alpha_bars, t);
}

torch::Tensor posterior_mean(const NoiseSchedule& s, const torch::Tensor& x0,
                             const torch::Tensor& xt, const torch::Tensor& t) {
  return extract(s.posterior_mean_coef_x0, t) * x0 + extract(s.posterior_mean_coef_xt, t) * xt;
}

torch::Tensor reverse_variance(const NoiseSchedule& s, const torch::Tensor& t, Variance v) {
  return extract(v == Variance::Beta ? s.betas : s.posterior_variance, t);
}

torch::Tensor reverse_step(const NoiseSchedule& s, const torch::Tensor& xt, const torch::Tensor& t,
                           const torch::Tensor& eps, const torch::Tensor& z, Variance v) {
  const torch::Tensor mean =
      extract(s.sqrt_recip_alphas, t) * (xt - extract(s.eps_coef, t) * eps);
  const torch::Tensor nonzero = (t != 0).to(xt.dtype()).to(xt.device()).view({-1, 1, 1, 1});
  return mean + nonzero * reverse_variance(s, t, v).sqrt() * z;
}

}  // namespace ddpm
