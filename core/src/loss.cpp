#include "ddpm/loss.h"

#include "ddpm/diffusion.h"

namespace ddpm {

torch::Tensor diffusion_loss(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                             const torch::Tensor& y, at::Generator& gen) {
  const int64_t B = x0.size(0);
  const torch::Tensor t =
      torch::randint(schedule.timesteps(), {B}, gen, torch::kLong).to(x0.device());
  const torch::Tensor eps = torch::randn(x0.sizes(), gen, torch::kFloat32).to(x0.device());
  const torch::Tensor xt = q_sample(schedule, x0, t, eps);
  return torch::mse_loss(model->forward(xt, t, y), eps);
}

}  // namespace ddpm
