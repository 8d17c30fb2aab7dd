#include "ddpm/sampler_steps.h"

#include <algorithm>
#include <cmath>

namespace ddpm::steps {

torch::Tensor ddpm(const torch::Tensor& x, const torch::Tensor& x0, double ab, double ab_prev,
                   const torch::Tensor& z, Variance variance) {
  const double alpha = ab / ab_prev, beta = 1 - alpha;
  const double c_x0 = std::sqrt(ab_prev) * beta / (1 - ab);
  const double c_xt = std::sqrt(alpha) * (1 - ab_prev) / (1 - ab);
  const double var = variance == Variance::Beta ? beta : beta * (1 - ab_prev) / (1 - ab);
  torch::Tensor out = c_x0 * x0 + c_xt * x;
  if (ab_prev < 1.0) out.add_(z, std::sqrt(var));  // no noise on the last step
  return out;
}

torch::Tensor ddim(const torch::Tensor& x0, const torch::Tensor& eps, double ab, double ab_prev,
                   double eta, const torch::Tensor& z) {
  const double sigma =
      eta * std::sqrt((1 - ab_prev) / (1 - ab)) * std::sqrt(std::max(0.0, 1 - ab / ab_prev));
  const double dir = std::sqrt(std::max(0.0, 1 - ab_prev - sigma * sigma));
  torch::Tensor out = std::sqrt(ab_prev) * x0 + dir * eps;
  if (sigma > 0) out.add_(z, sigma);
  return out;
}

torch::Tensor euler_ancestral(const torch::Tensor& x, const torch::Tensor& eps, double ab,
                              double ab_prev, const torch::Tensor& z) {
  const double s = std::sqrt((1 - ab) / ab), s_next = std::sqrt((1 - ab_prev) / ab_prev);
  const double s_up = std::min(s_next, std::sqrt(s_next * s_next * (s * s - s_next * s_next) / (s * s)));
  const double s_down = std::sqrt(std::max(0.0, s_next * s_next - s_up * s_up));
  // x / sqrt(ab) moves along d = eps (the derivative of the probability-flow ODE in sigma).
  torch::Tensor xv = x / std::sqrt(ab) + (s_down - s) * eps;
  if (s_up > 0) xv.add_(z, s_up);
  return xv * std::sqrt(ab_prev);
}

double DpmSolverPP2M::log_snr_step(double ab, double ab_prev) {
  return std::log(std::sqrt(ab_prev) / std::sqrt(1 - ab_prev)) - std::log(std::sqrt(ab) / std::sqrt(1 - ab));
}

torch::Tensor DpmSolverPP2M::data_prediction(const torch::Tensor& x0, double h) {
  torch::Tensor d = x0;
  if (prev_x0_.defined()) {
    const double r = prev_h_ / h;
    d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0_;
  }
  prev_x0_ = x0;
  prev_h_ = h;
  return d;
}

torch::Tensor DpmSolverPP2M::step(const torch::Tensor& x, const torch::Tensor& x0, double ab,
                                  double ab_prev) {
  if (ab_prev >= 1.0) {  // to t = 0 (sigma = 0): the data prediction itself
    prev_x0_ = torch::Tensor();
    return x0;
  }
  const double h = log_snr_step(ab, ab_prev);
  const torch::Tensor d = data_prediction(x0, h);
  return (std::sqrt(1 - ab_prev) / std::sqrt(1 - ab)) * x - std::sqrt(ab_prev) * std::expm1(-h) * d;
}

torch::Tensor DpmSolverPP2M::step_sde(const torch::Tensor& x, const torch::Tensor& x0, double ab,
                                      double ab_prev, const torch::Tensor& z) {
  if (ab_prev >= 1.0) {
    prev_x0_ = torch::Tensor();
    return x0;
  }
  const double h = log_snr_step(ab, ab_prev);
  const double c = -std::expm1(-2 * h);  // 1 - e^-2h
  const torch::Tensor d = data_prediction(x0, h);
  const double sigma_n = std::sqrt(1 - ab_prev);
  torch::Tensor out = (sigma_n / std::sqrt(1 - ab) * std::exp(-h)) * x + (std::sqrt(ab_prev) * c) * d;
  return out.add_(z, sigma_n * std::sqrt(c));
}

torch::Tensor denoise(const Rule& rule, const torch::Tensor& x, const torch::Tensor& eps, double ab,
                      double ab_prev, const torch::Tensor& z, DpmSolverPP2M& dpm, torch::Tensor& x0) {
  x0 = (x - std::sqrt(1 - ab) * eps) / std::sqrt(ab);
  if (rule.clip_x0) x0 = x0.clamp(-1, 1);
  // The noise direction consistent with the clamped estimate, for the rules that use it.
  const auto direction = [&] { return rule.clip_x0 ? (x - std::sqrt(ab) * x0) / std::sqrt(1 - ab) : eps; };
  switch (rule.sampler) {
    case SamplerKind::DDPM: return ddpm(x, x0, ab, ab_prev, z, rule.variance);
    case SamplerKind::DDIM: return ddim(x0, direction(), ab, ab_prev, rule.eta, z);
    case SamplerKind::DPMSolverPP2M: return dpm.step(x, x0, ab, ab_prev);
    case SamplerKind::DPMSolverPP2MSDE:
      if (rule.first_order) dpm.reset();
      return dpm.step_sde(x, x0, ab, ab_prev, z);
    case SamplerKind::EulerAncestral: return euler_ancestral(x, direction(), ab, ab_prev, z);
  }
  return x;
}

}  // namespace ddpm::steps
