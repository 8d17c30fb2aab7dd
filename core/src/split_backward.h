#pragma once
// A training step's forward and backward split along the batch over the cores: each slice of
// the rows runs on its own thread with ONE intra-op thread (helper_threads.h), and the cores
// meet once a step instead of at every layer's barrier.
//
// Why (tests/bench/NOTES.md, 2026-12-06): a fine-tune of the default model in one process with a
// two-thread OpenMP team spent 21 % of its CPU samples in libgomp waiting at barriers, and two
// one-thread processes side by side trained 1.32x its images a second.
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "ddpm/distill.h"
#include "ddpm/schedule.h"
#include "ddpm/unet.h"

namespace ddpm {

// The loss of rows [start, start + size) of a step's batch, as their mean. Called on the part's
// own thread with grad mode on; it sets any other thread-local state it needs (autocast).
using RowsLoss = std::function<torch::Tensor(int64_t start, int64_t size)>;

// Cuts `rows` into min(parts, rows) slices (sizes differ by at most one), computes each slice's
// loss and its gradients for `params` on a thread of its own, and leaves in each parameter's grad
// the slices' gradients weighted by their share of the rows, added in slice order: the same bits
// whichever thread ran which slice. A parameter no slice reaches keeps the grad it had. Returns
// the rows' mean loss, detached.
torch::Tensor split_loss_backward(int parts, int64_t rows, const std::vector<torch::Tensor>& params,
                                  const RowsLoss& loss);

// The trainer's CPU step of the diffusion loss (ddpm/loss.h) in `parts` slices: x0 and y are
// rows [begin, begin + x0.size(0)) of a batch of `batch`, drawn for as diffusion_loss_rows draws
// (on this thread, before the split), each slice's forward in bf16 mixed precision when `bf16`
// (mixed_precision.h). Gradients and the returned loss as split_loss_backward's.
torch::Tensor split_diffusion_backward(int parts, UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                                       const torch::Tensor& y, at::Generator& gen, int64_t batch, int64_t begin,
                                       double snr_gamma, bool bf16, const std::vector<torch::Tensor>& params);

// The trainer's CPU step of a distillation (ddpm/distill.h) in `parts` slices: the draws for the
// whole batch on this thread (draw_distillation_rows), each slice's teacher targets and student
// forward on its own thread, in bf16 mixed precision when `bf16`. As split_diffusion_backward.
torch::Tensor split_distillation_backward(int parts, UNet& student, UNet& teacher, const NoiseSchedule& schedule,
                                          const torch::Tensor& x0, const torch::Tensor& y, const DistillSpec& spec,
                                          at::Generator& gen, bool bf16, const std::vector<torch::Tensor>& params);

}  // namespace ddpm
