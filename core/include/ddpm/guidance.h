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

}  // namespace ddpm
