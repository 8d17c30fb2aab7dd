#pragma once
// The model's noise prediction with classifier-free guidance, per sample:
//   eps = eps_uncond + s (eps_cond - eps_uncond)
// Samples that need both branches get an unconditional twin appended to the SAME batch, so
// one forward pass serves guided, unguided and unconditional samples together. A model with
// guidance distilled in (UNetConfig::guidance_input) takes the scale as an input instead: one
// forward per image, no twin, and `rescale` does not apply (sample validation refuses it).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "ddpm/unet.h"

namespace ddpm {

// x: [B, C, H, W]; t: [B] int64; classes[i] = -1 for none; guidance[i] >= 0
// (0 = unconditional, 1 = conditional only, > 1 guided). Both vectors have B entries.
// rescale in [0, 1] mixes in the guided prediction rescaled to the conditional one's standard
// deviation per image (Lin et al. 2023, "Common Diffusion Noise Schedules ... are Flawed").
torch::Tensor predict_noise(UNet& model, const torch::Tensor& x, const torch::Tensor& t,
                            const std::vector<int64_t>& classes, const std::vector<float>& guidance,
                            float rescale = 0.0f, bool tiling = false);

// Guidance in a limited interval of noise levels (Kynkaanniemi et al. 2024, "Applying guidance
// in a limited interval improves sample and distribution quality"): a step at noise level
// sigma = sqrt((1 - alpha_bar) / alpha_bar) outside [min_sigma, max_sigma] takes the conditional
// prediction alone, which needs no unconditional twin (one network image instead of two).
// Measured on the default model (tests/bench/NOTES.md, "Guidance in an interval"): guidance at
// the noisiest levels costs distance, at the least noisy it changes nothing.
struct GuidanceInterval {
  float min_sigma = 0.0f;  // 0: no lower bound
  float max_sigma = 0.0f;  // 0: no upper bound
  bool limits() const { return min_sigma > 0 || max_sigma > 0; }
  bool contains(double sigma) const { return sigma >= min_sigma && (max_sigma <= 0 || sigma <= max_sigma); }
};
// Throws ddpm::Error naming a bound that is negative, not finite, or a max below the min.
void check_guidance_interval(const GuidanceInterval& interval);

// The scale an image of guidance `g` gets at a step of `alpha_bar`: g inside the interval, at
// most 1 outside; always g for a model that takes the scale as an input (it has no twin).
float guidance_at(float g, double alpha_bar, const GuidanceInterval& interval, const UNetConfig& model);
// The same per image of a batch at timesteps t ([B], any device); alpha_bars: the schedule's,
// float64 on the CPU.
std::vector<float> guidance_at(const std::vector<float>& guidance, const torch::Tensor& t,
                               const torch::Tensor& alpha_bars, const GuidanceInterval& interval,
                               const UNetConfig& model);

}  // namespace ddpm
