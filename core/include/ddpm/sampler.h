#pragma once
// Sampling: DDPM ancestral (Algorithm 2), DDIM, DPM-Solver++ 2M and Euler ancestral, all
// driven by one noise prediction per step (classifier-free guidance batched into one
// forward), with a per-step observer, per-image seeds, cancellation between steps,
// image-to-image, inpainting (RePaint-style), seamless tiling and seed variations.
#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ddpm/guidance.h"
#include "ddpm/schedule.h"
#include "ddpm/unet.h"

namespace ddpm {

enum class SamplerKind { DDPM, DDIM, DPMSolverPP2M, EulerAncestral, DPMSolverPP2MSDE };
std::string to_string(SamplerKind kind);
SamplerKind sampler_from_string(const std::string& name);  // "ddpm", "ddim", "dpmpp2m", "euler_a", "dpmpp2m_sde"
// Steps used when SampleOptions::steps is 0 (and by the plugin's jobs): T for DDPM, 25 DDIM,
// 20 DPM-Solver++ 2M, 30 Euler a, 10 DPM-Solver++ 2M SDE (on default_spacing's logsnr grid it
// beats 20 trailing steps of itself, and 10 steps beat 8 on the default model and on 10-minute
// fine-tunes, 9 and 11 and 12 in between: tests/bench/NOTES.md, "Ten steps").
int default_steps(SamplerKind kind, int timesteps);

// Which of the T timesteps a shorter run visits.
enum class Spacing { Uniform, Leading, Trailing, LogSnr, Tuned };
std::string to_string(Spacing spacing);
Spacing spacing_from_string(const std::string& name);  // "uniform", "leading", "trailing", "logsnr", "tuned"
// The visited timesteps in increasing order. Uniform: evenly spaced with both ends;
// leading: 0, k, 2k, ... (k = T / steps); trailing: T-1, T-1-k, ... counted from the end.
// LogSnr needs the schedule: use visited_timesteps.
std::vector<int64_t> spaced_timesteps(int timesteps, int steps, Spacing spacing = Spacing::Uniform);
// spaced_timesteps, and LogSnr: from T-1, the timesteps nearest to equal steps of the
// log signal-to-noise ratio lambda = log(alpha / sigma), the last step landing on lambda(0)
// (DPM-Solver's logSNR grid; its authors' choice for low-resolution pixel models).
// Tuned: at 1 to 5 steps, the noise levels searched best for DPM-Solver++ 2M SDE on the
// default model's guidance-distilled student, starting below T-1 (4 steps: sigma 17.4, 8.52,
// 2.64, 0.485, timesteps 750, 650, 450, 140 of the linear schedule; the nearest timesteps by
// log-SNR on another schedule, as logsnr picks its own); logsnr at other counts. A step at T-1
// is where an eps-predicting network's clean estimate is worst (its noise error times
// 1 / sqrt(ab)); starting at sigma 12-17 from the unit Gaussian cut the student's 4-step
// distance 1.78 -> 1.14 (against the tuned grid from T-1) and the model's 2.54 -> 1.45 (against
// trailing; tests/bench/NOTES.md).
std::vector<int64_t> visited_timesteps(const NoiseSchedule& schedule, int steps, Spacing spacing);
// The spacing the product uses when the caller names none: tuned up to 5 steps for DPM-Solver++
// 2M (both variants) and DDIM, then logsnr for the SDE and trailing for the others; trailing
// for DDPM and Euler a at any count. Measured on the default model (tests/bench/NOTES.md): at 8
// steps the SDE on logsnr scores 0.907 accuracy / FD 1.57 against trailing's 0.888 / 2.58; at
// 4 steps tuned against trailing: the SDE 0.86 / 1.45 against 0.81 / 2.54, DPM-Solver++ 2M
// 0.81 / 2.08 against 0.64 / 5.62, DDIM 0.63 / 5.18 against 0.59 / 7.30 (Euler a lost: 4.37
// against 4.20).
Spacing default_spacing(SamplerKind kind, int steps);
// The guidance interval the product uses when the caller names none (the core's own default is
// every step): sigma up to 20 for DPM-Solver++ 2M SDE, where leaving out the noisiest steps
// raised the default model's accuracy and cut its distance (at 8 and 20 steps), and guiding the
// least noisy ones too (below 0.2, left out until 2026-12-08) cut fine-tunes' distance by 4 %
// at the default 10 steps, level on the default model; every step for the deterministic
// samplers, whose 8-step images it made worse (tests/bench/NOTES.md).
GuidanceInterval default_guidance_interval(SamplerKind kind);

struct SampleOptions {
  int batch = 1;
  // Empty: no class for any image; one entry: the same class for all; else one per image.
  // -1 means "no class".
  std::vector<int64_t> classes;
  float guidance = 3.0f;          // 0 unconditional, 1 conditional only, > 1 guided
  float guidance_rescale = 0.0f;  // 0..1: pulls the guided prediction's spread back to the
                                  // conditional one's (Lin et al. 2023), against over-saturation
  GuidanceInterval guidance_interval;  // guidance only at these noise levels (default: all)
  SamplerKind sampler = SamplerKind::DDPM;
  int steps = 0;  // 0: the sampler's default (see default_steps)
  // Trailing by default: the first step starts at T-1 and the last lands on the clean image
  // from T/steps-1, which DPM-Solver++ needs (measured on a Gaussian: std 0.48 for a true 0.5
  // at 20 steps trailing, 0.62 uniform, whose last step into t = 0 is a huge logSNR jump).
  Spacing spacing = Spacing::Trailing;
  // The visited timesteps themselves, increasing, each in [0, T-1] (e.g. a schedule tuned for a
  // few steps): when given, they replace steps (0 or their count) and spacing.
  std::vector<int64_t> timesteps;
  float eta = 0.0f;                    // DDIM: 0 deterministic .. 1 ancestral
  Variance variance = Variance::Beta;  // DDPM's sigma_t^2
  bool clip_x0 = false;  // clamp the x0 estimate to [-1, 1] before each update
  // The finished images' pixels whose alpha (channel 3 of 4, in [0, 1]) is below this become
  // fully transparent, colour and alpha -1 as in training images; 0: none, negative: the
  // model's own (io::ModelInfo::alpha_cutoff; fit_to_model resolves it).
  float alpha_cutoff = -1.0f;
  // DPM-Solver++ 2M SDE at first order (each step from the current estimate alone): how a
  // model step-distilled for that sampler was trained (fit_to_model sets it).
  bool first_order = false;

  uint64_t seed = 0;            // image i uses seed + i ...
  std::vector<uint64_t> seeds;  // ... unless seeds are given, one per image
  // Variation: the starting noise is slerp(noise(seed), noise(variation_seed + i), strength),
  // and so is every ancestral step's noise (NoiseSource::vary).
  uint64_t variation_seed = 0;
  float variation_strength = 0.0f;

  // The starting latent x_T ([1 or B, C, H, W]) instead of seeded noise, e.g. from
  // ddim_invert or an animation path; the per-step noise still comes from the seeds.
  torch::Tensor initial_noise;

  bool tiling = false;  // circular padding in every convolution: textures that tile

  // Image-to-image (SDEdit): [1 or B, C, H, W] in [-1, 1]; strength 1 starts from the image
  // noised to the grid's first level (from T-1 almost pure noise; the tuned few-step grids start
  // at sigma 12-17, where 6-8 % of the image remains), 0 returns the image. Other sizes are
  // resized (and a warning says so).
  torch::Tensor init_image;
  float strength = 1.0f;
  // Inpainting: [1 or B, 1, H, W], 1 where init_image is kept, 0 where it is generated.
  torch::Tensor mask;
  int resample = 1;  // RePaint: each step is redone this many times, re-noising in between
};

struct StepView {
  int step;   // 1-based count of steps done
  int total;  // steps in the run
  int64_t t;  // the timestep just denoised (0 is the last)
  const torch::Tensor& x;   // the latent after this step
  const torch::Tensor& x0;  // the current estimate of the clean image
};
using StepObserver = std::function<void(const StepView&)>;

// Pixels of [B, 4, H, W] images in [-1, 1] whose alpha is below `cutoff` (in [0, 1]) set to -1
// in every channel; other channel counts and cutoff <= 0 pass through.
torch::Tensor clear_faint_alpha(const torch::Tensor& images, float cutoff);

struct SampleResult {
  torch::Tensor images;  // [B, C, H, W] in about [-1, 1] (the latest x when cancelled)
  int steps_done = 0;
  bool cancelled = false;
  std::vector<std::string> warnings;  // e.g. "init image resized from 40x40 to 32x32"
};

// The noise prediction for x at the network's timesteps t ([B] int64), conditioning included.
using NoisePredictor = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;

// One image's class (-1 none) and guidance scale, as validate() checks them (the stream too).
// Throw ddpm::Error naming the value and its allowed range.
void check_class(int64_t class_index, const UNetConfig& model);
void check_guidance(float guidance);

// Throws ddpm::Error naming the value and its allowed range on bad options.
void validate(const SampleOptions& options, const UNetConfig& model, int timesteps);

// The timesteps a run of `kind` visits: options.timesteps when given (checked: increasing, in
// range, as many as options.steps unless that is 0), else options.steps (0: the sampler's
// default) on options.spacing. Throws ddpm::Error naming the problem.
std::vector<int64_t> run_timesteps(const NoiseSchedule& schedule, const SampleOptions& options, SamplerKind kind);

// The predictor sample(model, ...) drives: each image's class and guidance (inside the options'
// guidance interval), rescale and tiling. It neither validates the options nor switches the
// model to eval mode (callers sharing a model across threads do that once).
NoisePredictor guided_predictor(UNet& model, const NoiseSchedule& schedule, const SampleOptions& options);

SampleResult sample(UNet& model, const NoiseSchedule& schedule, const SampleOptions& options,
                    const StepObserver& observer = {}, const std::atomic<bool>* cancel = nullptr);

// The same chain around any noise predictor (classes, guidance and tiling unused): images
// of `image_shape` ([C, H, W]) on `device`.
SampleResult sample(const NoisePredictor& predict, const NoiseSchedule& schedule,
                    const SampleOptions& options, const std::vector<int64_t>& image_shape,
                    torch::Device device, const StepObserver& observer = {},
                    const std::atomic<bool>* cancel = nullptr);

// DDIM inversion (eta 0 run backwards): the noise that DDIM with the same steps, classes and
// guidance decodes back to `images`.
torch::Tensor ddim_invert(UNet& model, const NoiseSchedule& schedule, const torch::Tensor& images,
                          const SampleOptions& options);

}  // namespace ddpm
