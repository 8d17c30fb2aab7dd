#pragma once
// Ancestral DDPM sampling (Algorithm 2) with classifier-free guidance in one batched forward
// per step, a per-step observer, per-image seeds and cancellation between steps.
#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "ddpm/diffusion.h"
#include "ddpm/schedule.h"
#include "ddpm/unet.h"

namespace ddpm {

struct SampleOptions {
  int batch = 1;
  // Empty: no class for any image; one entry: the same class for all; else one per image.
  // -1 means "no class".
  std::vector<int64_t> classes;
  float guidance = 3.0f;  // 0 unconditional, 1 conditional only, > 1 guided
  // Network evaluations: T (0 means T) is the exact chain; fewer take evenly spaced timesteps
  // with the betas recomputed from alpha_bar so the marginals stay the same.
  int steps = 0;
  Variance variance = Variance::Beta;
  uint64_t seed = 0;  // image i uses seed + i
  bool clip_x0 = false;  // clamp the x0 estimate to [-1, 1] and step through the posterior mean
};

struct StepView {
  int step;       // 1-based count of steps done
  int total;      // steps in the run
  int64_t t;      // the timestep just denoised (0-based; 0 is the last)
  const torch::Tensor& x;   // x_{t-1} after this step
  const torch::Tensor& x0;  // the current estimate of the clean image
};
using StepObserver = std::function<void(const StepView&)>;

struct SampleResult {
  torch::Tensor images;  // [B, C, H, W] in about [-1, 1] (the latest x when cancelled)
  int steps_done = 0;
  bool cancelled = false;
};

// Throws ddpm::Error naming the value and its allowed range on bad options.
void validate(const SampleOptions& options, const UNetConfig& model, int timesteps);

// The timesteps a run of `steps` visits, in increasing order (evenly spaced, ends included).
std::vector<int64_t> spaced_timesteps(int timesteps, int steps);

// The noise prediction for x at the network's timesteps t ([B] int64), conditioning included.
using NoisePredictor = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;

// Samples from `model` with the options' classes and guidance.
SampleResult sample_ddpm(UNet& model, const NoiseSchedule& schedule, const SampleOptions& options,
                         const StepObserver& observer = {},
                         const std::atomic<bool>* cancel = nullptr);

// The same chain around any noise predictor (classes and guidance of `options` unused):
// images of `image_shape` ([C, H, W]) on `device`.
SampleResult sample_ddpm(const NoisePredictor& predict, const NoiseSchedule& schedule,
                         const SampleOptions& options, const std::vector<int64_t>& image_shape,
                         torch::Device device, const StepObserver& observer = {},
                         const std::atomic<bool>* cancel = nullptr);

}  // namespace ddpm
