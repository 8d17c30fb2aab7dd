#include "ddpm/loss.h"

#include "ddpm/diffusion.h"

namespace ddpm {

torch::Tensor diffusion_loss(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                             const torch::Tensor& y, at::Generator& gen) {
  return diffusion_loss_rows(model, schedule, x0, y, gen, x0.size(0), 0);
}

torch::Tensor diffusion_loss_rows(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                                  const torch::Tensor& y, at::Generator& gen, int64_t batch, int64_t begin) {
  const int64_t n = x0.size(0);
  std::vector<int64_t> shape = x0.sizes().vec();
  shape[0] = batch;
  const torch::Tensor t =
      torch::randint(schedule.timesteps(), {batch}, gen, torch::kLong).narrow(0, begin, n).to(x0.device());
  const torch::Tensor eps = torch::randn(shape, gen, torch::kFloat32).narrow(0, begin, n).to(x0.device());
  const torch::Tensor xt = q_sample(schedule, x0, t, eps);
  return torch::mse_loss(model->forward(xt, t, y), eps);
}

}  // namespace ddpm
