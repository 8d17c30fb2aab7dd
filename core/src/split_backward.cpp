#include "split_backward.h"

#include <algorithm>

#include "ddpm/loss.h"
#include "helper_threads.h"
#include "mixed_precision.h"

namespace ddpm {

torch::Tensor split_loss_backward(int parts, int64_t rows, const std::vector<torch::Tensor>& params,
                                  const RowsLoss& loss) {
  const int n = static_cast<int>(std::clamp<int64_t>(parts, 1, rows));
  std::vector<std::vector<torch::Tensor>> grads(n);
  std::vector<torch::Tensor> losses(n);
  const int64_t base = rows / n, extra = rows % n;
  {
    ThreadsHere one(1);
    run_on_helpers(n, n, [&](int i) {
      const torch::AutoGradMode grad_on(true);
      const ThreadBudgetHere alone(1);  // a teacher's forwards inside the slice stay on its thread
      const int64_t start = i * base + std::min<int64_t>(i, extra);
      const int64_t size = base + (i < extra ? 1 : 0);
      const torch::Tensor part = loss(start, size) * (static_cast<double>(size) / static_cast<double>(rows));
      // autograd::grad, not backward: concurrent backwards would add into the same grads in
      // whatever order the threads finish.
      grads[i] = torch::autograd::grad({part}, params, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
      losses[i] = part.detach();
    });
  }
  const torch::NoGradGuard no_grad;
  for (std::size_t k = 0; k < params.size(); ++k) {
    torch::Tensor sum;
    for (int i = 0; i < n; ++i) {
      const torch::Tensor& g = grads[i][k];
      if (g.defined()) sum = sum.defined() ? sum.add_(g) : g.clone();  // the slice's own stays untouched
    }
    if (sum.defined()) params[k].mutable_grad() = sum;
  }
  torch::Tensor total = losses[0];
  for (int i = 1; i < n; ++i) total = total + losses[i];
  return total;
}

torch::Tensor split_diffusion_backward(int parts, UNet& model, const NoiseSchedule& schedule, const torch::Tensor& x0,
                                       const torch::Tensor& y, at::Generator& gen, int64_t batch, int64_t begin,
                                       double snr_gamma, bool bf16, const std::vector<torch::Tensor>& params) {
  const DiffusionDraws draws = draw_diffusion_rows(schedule, x0, gen, batch, begin);
  return split_loss_backward(parts, x0.size(0), params, [&](int64_t start, int64_t size) {
    const CpuAutocastScope mixed(bf16);  // the backward follows the forward's types
    return diffusion_loss_drawn(model, schedule, x0.narrow(0, start, size), y.narrow(0, start, size),
                                draws.slice(start, size), snr_gamma);
  });
}

torch::Tensor split_distillation_backward(int parts, UNet& student, UNet& teacher, const NoiseSchedule& schedule,
                                          const torch::Tensor& x0, const torch::Tensor& y, const DistillSpec& spec,
                                          at::Generator& gen, bool bf16, const std::vector<torch::Tensor>& params) {
  const DistillDraws draws = draw_distillation_rows(schedule, x0, y, spec, gen);
  teacher->eval();  // here, not in the slices: they share the teacher
  return split_loss_backward(parts, x0.size(0), params, [&](int64_t start, int64_t size) {
    const CpuAutocastScope mixed(bf16);
    return distillation_loss_drawn(student, teacher, schedule, x0.narrow(0, start, size), y.narrow(0, start, size),
                                   draws.slice(start, size), spec);
  });
}

}  // namespace ddpm
