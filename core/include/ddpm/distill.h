#pragma once
// Distillation into a student that makes images with fewer network calls. Two stages, from the
// papers the realtime tools build on:
//   - Guidance distillation (Meng et al. 2023, stage one; DistillSpec::steps = 0): the student
//     takes the guidance scale as an input (UNetConfig::guidance_input) and learns the teacher's
//     guided noise prediction at every timestep, so a guided image costs one forward of batch 1
//     per step instead of two, with any sampler.
//   - Step distillation (progressive distillation, Salimans & Ho 2022; steps = N > 0): the
//     student learns to do in one DDIM step what its teacher does in `substeps`, on the trailing
//     N-step grid, guidance folded in as above. Rounds chain: a student for N steps teaches one
//     for N / 2. It follows the teacher's deterministic (ODE) trajectories, so it is only as good
//     as the teacher's DDIM samples (tests/bench/NOTES.md: far below its stochastic samplers on
//     the default model).
//   - Stochastic step distillation (`stochastic`): the same for first-order DPM-Solver++ SDE
//     steps on the tuned grid where there is one (1 to 5 steps; Spacing::Tuned, whose images
//     at 4 steps score half the distance of trailing's before any step distillation),
//     x' = c_x x + c_D D + s_n n (D the clean estimate, n fresh noise; with D fixed, k steps
//     compose exactly into one). The teacher walks its substeps as the product samples,
//     DPM-Solver++ 2M SDE (D_j its second-order estimate; a first-order teacher scored worse
//     than the student's own 4 steps: tests/bench/NOTES.md), with fresh noise; along the way it
//     accumulates S = sum_j (prod_{i>j} c_x,i) c_D,j D_j, the part of its end point that its
//     estimates made, and the student's target is the D one step would need for the same
//     part: S / c_D. Its noise enters the target not at all, only through the D_j.
//
// Step distillation:
// For a data image x0 and a student step from t to t' (consecutive timesteps of the student's
// N-step grid, t' = -1 after the last, i.e. the clean image), with z_t = a_t x0 + s_t eps
// (a = sqrt(alpha_bar), s = sqrt(1 - alpha_bar)), the teacher runs `substeps` guided DDIM steps
// from z_t to z_t'; the student's clean-image target is the x~ that ONE DDIM step maps onto the
// same z_t':  x~ = (z_t' - (s_t'/s_t) z_t) / (a_t' - (s_t'/s_t) a_t).
// The student predicts noise like every model here, so the loss compares noise predictions,
// eps~ = (z_t - a_t x~) / s_t, weighted by min(max(1, 1/SNR_t), 100): the clean-image error
// (x-space, "truncated SNR" weighting of the paper) where noise dominates, capped so that the
// first step's nearly pure noise does not drown the other steps' gradients.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ddpm/io/model_info.h"
#include "ddpm/sampler.h"
#include "ddpm/schedule.h"
#include "ddpm/unet.h"

namespace ddpm {

struct DistillSpec {
  int steps = 0;     // the student's DDIM steps; 0: guidance distillation only
  int substeps = 2;  // the teacher's DDIM steps per student step
  float guidance_min = 1, guidance_max = 5;  // scales drawn uniformly per image
  bool stochastic = false;  // DPM-Solver++ SDE steps (first order) instead of DDIM
  Spacing spacing = Spacing::Trailing;  // the student's grid: Trailing or Tuned
};

// The grid a student of these steps is distilled on when nobody names one: Tuned for
// stochastic steps, Trailing for DDIM (whose teacher walks the ODE, not searched for).
Spacing default_student_spacing(bool stochastic);

// The student's grid of `steps` steps (as the sampler visits it), in decreasing
// order, followed by -1 (the clean image).
std::vector<int64_t> student_grid(const NoiseSchedule& schedule, int steps, Spacing spacing);

// The teacher's timesteps from `from` down to `to` (-1: clean) in `substeps` equal steps,
// both ends included, strictly decreasing.
std::vector<int64_t> teacher_path(int64_t from, int64_t to, int substeps);

// The teacher's DDIM steps (eta 0, the clean estimate clipped to [-1, 1]) from z ([B, C, H, W])
// along each row's own path of timesteps (paths[i] from teacher_path; -1 = the clean image).
torch::Tensor ddim_walk(const NoisePredictor& predict, const NoiseSchedule& schedule, torch::Tensor z,
                        const std::vector<std::vector<int64_t>>& paths);

// The stochastic target: the teacher's DPM-Solver++ 2M SDE steps (estimates clipped)
// along each row's path, noise[j] ([B, C, H, W]) the fresh noise of the j-th step of every row
// (path_noise), returning S / c_D (see above).
torch::Tensor sde_target(const NoisePredictor& predict, const NoiseSchedule& schedule, torch::Tensor z,
                         const std::vector<std::vector<int64_t>>& paths, const std::vector<torch::Tensor>& noise);
// The noise sde_target needs for these paths: one draw of `shape` for each step of the longest.
std::vector<torch::Tensor> path_noise(const std::vector<std::vector<int64_t>>& paths, at::IntArrayRef shape,
                                      at::Generator& gen);

// The clean image x~ that one DDIM step takes from z0 at t0 onto z_end at t_end (per row, [B]
// timesteps, -1 = clean): x~ = (z_end - (s_end/s_0) z0) / (a_end - (s_end/s_0) a_0).
torch::Tensor one_step_target(const NoiseSchedule& schedule, const torch::Tensor& z0, const torch::Tensor& t0,
                              const torch::Tensor& z_end, const torch::Tensor& t_end);

// The description of a student made from `teacher` (which may itself be a distilled student):
// guidance as an input, `spec.steps` steps, the spec's guidance range, the teacher's default
// guidance clamped into it (distilled_steps = spec.steps, 0 for guidance only). Throws ddpm::Error naming the problem (a range outside a distilled
// teacher's, a student that would not need fewer steps than its teacher).
io::ModelInfo student_info(const io::ModelInfo& teacher, const DistillSpec& spec);

// The distillation loss of a batch of data images x0 ([B, C, H, W] in [-1, 1]) with labels y
// ([B] int64, -1 for none: the unconditional target). Guidance only: t uniform over the
// schedule, the noise MSE against the teacher's guided prediction. Draws each image's student
// step, noise and guidance scale from `gen` (CPU). The teacher runs without gradients.
torch::Tensor distillation_loss(UNet& student, UNet& teacher, const NoiseSchedule& schedule,
                                const torch::Tensor& x0, const torch::Tensor& y, const DistillSpec& spec,
                                at::Generator& gen);

// distillation_loss in two halves, so that a step can draw for the whole batch on its own
// thread and compute slices of the rows elsewhere (split_backward.h) on the same numbers. The
// draws (all on the CPU, in the order distillation_loss makes them): each row's timestep (the
// student's step's start), noise, guidance scale (1 for a row with no class), and for step
// distillation the teacher's path and, stochastic, the noise of its steps.
struct DistillDraws {
  torch::Tensor t0, eps;                    // [B] int64, [B, C, H, W]
  std::vector<float> scales;
  std::vector<std::vector<int64_t>> paths;  // step distillation only
  std::vector<torch::Tensor> noise;         // stochastic only: path_noise
  DistillDraws slice(int64_t start, int64_t size) const;
};
DistillDraws draw_distillation_rows(const NoiseSchedule& schedule, const torch::Tensor& x0, const torch::Tensor& y,
                                    const DistillSpec& spec, at::Generator& gen);
// The loss given the draws; the teacher must be in eval mode (this does not switch it, so that
// threads may share it).
torch::Tensor distillation_loss_drawn(UNet& student, UNet& teacher, const NoiseSchedule& schedule,
                                      const torch::Tensor& x0, const torch::Tensor& y, const DistillDraws& draws,
                                      const DistillSpec& spec);

}  // namespace ddpm
