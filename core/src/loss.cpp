#include "ddpm/loss.h"

#include "ddpm/diffusion.h"

namespace ddpm {

torch::Tensor diffusion_loss(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                             const torch::Tensor& y, at::Generator& gen, double snr_gamma) {
  return diffusion_loss_rows(model, schedule, x0, y, gen, x0.size(0), 0, snr_gamma);
}

torch::Tensor min_snr_weights(const NoiseSchedule& schedule, double gamma) {
  const torch::Tensor ab = schedule.alpha_bars.to(torch::kFloat64);
  const torch::Tensor snr = ab / (1 - ab);
  return (snr.clamp_max(gamma) / snr).to(torch::kFloat32);
}

torch::Tensor diffusion_loss_rows(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                                  const torch::Tensor& y, at::Generator& gen, int64_t batch, int64_t begin,
                                  double snr_gamma) {
  const int64_t n = x0.size(0);
  std::vector<int64_t> shape = x0.sizes().vec();
  shape[0] = batch;
  const torch::Tensor t =
      torch::randint(schedule.timesteps(), {batch}, gen, torch::kLong).narrow(0, begin, n).to(x0.device());
  const torch::Tensor eps = torch::randn(shape, gen, torch::kFloat32).narrow(0, begin, n).to(x0.device());
  const torch::Tensor xt = q_sample(schedule, x0, t, eps);
  const torch::Tensor out = model->forward(xt, t, y);
  if (snr_gamma <= 0) return torch::mse_loss(out, eps);
  // The mean over the batch of each sample's weighted MSE; ranks' slices still average to the
  // whole batch's loss because every slice has the same size.
  const torch::Tensor w = min_snr_weights(schedule, snr_gamma).to(x0.device()).index_select(0, t);
  return ((out - eps).pow(2).mean({1, 2, 3}) * w).mean();
}

}  // namespace ddpm
