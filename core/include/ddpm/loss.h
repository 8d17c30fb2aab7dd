#pragma once
// The DDPM training objective: sample t uniformly, noise x0 to x_t in closed form, and take the
// mean squared error between the true noise and the network's prediction, optionally weighted
// per sample by min-SNR-gamma (Hang et al. 2023): w(t) = min(SNR(t), gamma) / SNR(t) with
// SNR = alpha_bar / (1 - alpha_bar). The weight lowers the low-noise steps, whose easy,
// conflicting gradients slow the learning of the rest; the optimum of every per-t term, and so
// sampling, is unchanged.
#include <torch/torch.h>

#include "ddpm/schedule.h"
#include "ddpm/unet.h"

namespace ddpm {

// x0: [B, C, H, W] in [-1, 1]; y: [B] int64 labels (-1 none) or undefined. Draws t and the
// noise from `gen` (a CPU generator) so that a run is reproducible from its seed.
torch::Tensor diffusion_loss(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                             const torch::Tensor& y, at::Generator& gen, double snr_gamma = 0);
// The same for rows [begin, begin + x0.size(0)) of a batch of `batch`: t and the noise are drawn
// for the whole batch and sliced, so data-parallel ranks together compute the loss of one
// process's batch (the mean of their equal slices' losses).
torch::Tensor diffusion_loss_rows(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                                  const torch::Tensor& y, at::Generator& gen, int64_t batch, int64_t begin,
                                  double snr_gamma = 0);
// What diffusion_loss_rows draws for its rows (the same calls on `gen`, so a run is the same
// whether its rows are computed at once or in slices): the timesteps [n] and noise like x0.
struct DiffusionDraws {
  torch::Tensor t, eps;
  DiffusionDraws slice(int64_t start, int64_t size) const {
    return {t.narrow(0, start, size), eps.narrow(0, start, size)};
  }
};
DiffusionDraws draw_diffusion_rows(const NoiseSchedule& schedule, const torch::Tensor& x0, at::Generator& gen,
                                   int64_t batch, int64_t begin);
// The loss of diffusion_loss_rows given its draws: the mean over x0's rows.
torch::Tensor diffusion_loss_drawn(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                                   const torch::Tensor& y, const DiffusionDraws& draws, double snr_gamma = 0);
// The per-timestep weights min(SNR, gamma) / SNR of a schedule, [T] float32 (gamma > 0).
torch::Tensor min_snr_weights(const NoiseSchedule& schedule, double gamma);

}  // namespace ddpm
