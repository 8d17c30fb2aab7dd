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

DiffusionDraws draw_diffusion_rows(const NoiseSchedule& schedule, const torch::Tensor& x0, at::Generator& gen,
                                   int64_t batch, int64_t begin) {
  const int64_t n = x0.size(0);
  std::vector<int64_t> shape = x0.sizes().vec();
  shape[0] = batch;
  const torch::Tensor t = torch::randint(schedule.timesteps(), {batch}, gen, torch::kLong);
  const torch::Tensor eps = torch::randn(shape, gen, torch::kFloat32);
  return {t.narrow(0, begin, n).to(x0.device()), eps.narrow(0, begin, n).to(x0.device())};
}

torch::Tensor diffusion_loss_drawn(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                                   const torch::Tensor& y, const DiffusionDraws& draws, double snr_gamma) {
  const torch::Tensor xt = q_sample(schedule, x0, draws.t, draws.eps);
  const torch::Tensor out = model->forward(xt, draws.t, y);
  if (snr_gamma <= 0) return torch::mse_loss(out, draws.eps);
  // The mean over the batch of each sample's weighted MSE; ranks' slices still average to the
  // whole batch's loss because every slice has the same size.
  const torch::Tensor w = min_snr_weights(schedule, snr_gamma).to(x0.device()).index_select(0, draws.t);
  return ((out - draws.eps).pow(2).mean({1, 2, 3}) * w).mean();
}

torch::Tensor diffusion_loss_rows(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                                  const torch::Tensor& y, at::Generator& gen, int64_t batch, int64_t begin,
                                  double snr_gamma) {
  return diffusion_loss_drawn(model, schedule, x0, y, draw_diffusion_rows(schedule, x0, gen, batch, begin), snr_gamma);
}

}  // namespace ddpm
