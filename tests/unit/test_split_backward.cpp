// A training step split over threads (core/src/split_backward.h) leaves the whole batch's
// gradients (up to float rounding), the same bits on every run, and the same loss from the same
// draws as the unsplit diffusion loss; for distillation too, where each slice also runs the
// teacher's walk for its rows.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>
#include <vector>

#include "ddpm/distill.h"
#include "ddpm/loss.h"
#include "ddpm/runtime.h"
#include "ddpm/schedule.h"
#include "split_backward.h"
#include "tiny_unet.h"

namespace {

struct Step {
  torch::Tensor loss;
  std::vector<torch::Tensor> grads;
};

TEST(SplitBackward, EqualsTheWholeBatchAndRepeatsBitForBit) {
  ddpm::init_runtime(2);
  ddpm::UNet net = ddpm::testing::tiny_unet(3, 5);
  const ddpm::NoiseSchedule schedule = ddpm::make_schedule();
  torch::manual_seed(7);
  const int64_t rows = 5;  // odd: slices of 3 and 2 rows, weighted by their share
  const torch::Tensor x0 = torch::rand({rows, 4, 8, 8}) * 2 - 1;
  const torch::Tensor y = torch::tensor({0, 2, -1, 1, 0});
  std::vector<torch::Tensor> params = net->parameters();
  // A trainable tensor the loss never reaches keeps its grad.
  torch::Tensor unused = torch::zeros({3}, torch::requires_grad());
  unused.mutable_grad() = torch::full({3}, 7.0f);
  params.push_back(unused);

  const auto whole = [&] {
    at::Generator gen = at::detail::createCPUGenerator(42);
    for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
    const torch::Tensor loss = ddpm::diffusion_loss_rows(net, schedule, x0, y, gen, rows, 0);
    loss.backward();
    Step s{loss.detach(), {}};
    for (auto& p : net->parameters()) s.grads.push_back(p.grad().clone());
    return s;
  };
  const auto split = [&](int parts) {
    at::Generator gen = at::detail::createCPUGenerator(42);
    const ddpm::DiffusionDraws draws = ddpm::draw_diffusion_rows(schedule, x0, gen, rows, 0);
    for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
    Step s;
    s.loss = ddpm::split_loss_backward(parts, rows, params, [&](int64_t start, int64_t size) {
      return ddpm::diffusion_loss_drawn(net, schedule, x0.narrow(0, start, size), y.narrow(0, start, size),
                                        draws.slice(start, size));
    });
    for (auto& p : net->parameters()) s.grads.push_back(p.grad().clone());
    return s;
  };

  const Step reference = whole();
  const Step a = split(2), b = split(2);
  EXPECT_NEAR(a.loss.item<float>(), reference.loss.item<float>(), 1e-6f * reference.loss.item<float>());
  ASSERT_EQ(a.grads.size(), reference.grads.size());
  for (std::size_t k = 0; k < a.grads.size(); ++k) {
    const float scale = reference.grads[k].abs().max().item<float>();
    EXPECT_LE((a.grads[k] - reference.grads[k]).abs().max().item<float>(), 1e-4f * scale + 1e-9f) << "parameter " << k;
    EXPECT_TRUE(torch::equal(a.grads[k], b.grads[k])) << "parameter " << k << " differs between two runs";
  }
  EXPECT_TRUE(torch::equal(unused.grad(), torch::full({3}, 7.0f)));
  // More parts than rows: one row each, still the whole batch's gradients.
  const Step many = split(8);
  for (std::size_t k = 0; k < many.grads.size(); ++k) {
    const float scale = reference.grads[k].abs().max().item<float>();
    EXPECT_LE((many.grads[k] - reference.grads[k]).abs().max().item<float>(), 1e-4f * scale + 1e-9f);
  }
  // A slice that fails fails the step, after every slice has ended.
  EXPECT_THROW(ddpm::split_loss_backward(2, rows, params,
                                         [&](int64_t start, int64_t) -> torch::Tensor {
                                           if (start > 0) throw std::runtime_error("slice failed");
                                           return net->forward(x0.narrow(0, 0, 3), torch::tensor({1, 2, 3}),
                                                               y.narrow(0, 0, 3)).mean();
                                         }),
               std::runtime_error);
}

// Every kind of distillation: guidance only, DDIM steps, stochastic steps (whose teacher draws
// fresh noise at each of its substeps, drawn for the whole batch before the split).
TEST(SplitBackward, DistillationEqualsTheWholeBatch) {
  ddpm::init_runtime(2);
  ddpm::UNet teacher = ddpm::testing::tiny_unet(3, 5);
  ddpm::UNet student = ddpm::testing::tiny_unet(3, 6, /*guidance_input=*/true);
  teacher->eval();
  const ddpm::NoiseSchedule schedule = ddpm::make_schedule();
  torch::manual_seed(8);
  const int64_t rows = 5;
  const torch::Tensor x0 = torch::rand({rows, 4, 8, 8}) * 2 - 1;
  const torch::Tensor y = torch::tensor({0, 2, -1, 1, 0});
  const std::vector<torch::Tensor> params = student->parameters();
  const auto grads = [&] {
    std::vector<torch::Tensor> g;
    for (auto& p : params) g.push_back(p.grad().clone());
    return g;
  };
  const std::vector<ddpm::DistillSpec> specs = {{0, 2, 1, 5, false}, {4, 2, 1, 5, false}, {4, 3, 1, 5, true}};
  for (const ddpm::DistillSpec& spec : specs) {
    SCOPED_TRACE("distillation for " + std::to_string(spec.steps) + " steps" + (spec.stochastic ? ", SDE" : ""));
    at::Generator gen = at::detail::createCPUGenerator(42);
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    const torch::Tensor whole = ddpm::distillation_loss(student, teacher, schedule, x0, y, spec, gen);
    whole.backward();
    const std::vector<torch::Tensor> reference = grads();

    gen = at::detail::createCPUGenerator(42);
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    const torch::Tensor split =
        ddpm::split_distillation_backward(2, student, teacher, schedule, x0, y, spec, gen, false, params);
    EXPECT_NEAR(split.item<float>(), whole.item<float>(), 1e-5f * whole.item<float>());
    const std::vector<torch::Tensor> got = grads();
    for (std::size_t k = 0; k < got.size(); ++k) {
      const float scale = reference[k].abs().max().item<float>();
      EXPECT_LE((got[k] - reference[k]).abs().max().item<float>(), 1e-4f * scale + 1e-9f) << "parameter " << k;
    }
  }
}

}  // namespace
