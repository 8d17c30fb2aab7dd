// The ancestral sampler: determinism from the seed, cancellation, the observer's x0 estimate,
// guidance in one batched forward, and refusal of bad options.
#include <gtest/gtest.h>

#include "error_of.h"
#include "tiny_unet.h"

#include "ddpm/diffusion.h"
#include "ddpm/guidance.h"
#include "ddpm/io/error.h"
#include "ddpm/model_sampling.h"
#include "ddpm/runtime.h"
#include "ddpm/sampler.h"

namespace {

ddpm::UNet tiny(int classes) { return ddpm::testing::tiny_unet(classes, 11); }

struct Fixture : ::testing::Test {
  void SetUp() override { ddpm::init_runtime(); }
  ddpm::UNet model = tiny(3);
  ddpm::NoiseSchedule schedule = ddpm::make_schedule();
};

TEST_F(Fixture, SameSeedGivesBitIdenticalSamples) {
  ddpm::SampleOptions o;
  o.batch = 2;
  o.classes = {1, 2};
  o.steps = 50;
  o.seed = 42;
  const auto a = ddpm::sample(model, schedule, o);
  const auto b = ddpm::sample(model, schedule, o);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_EQ(a.steps_done, 50);
  o.seed = 43;
  EXPECT_FALSE(torch::equal(a.images, ddpm::sample(model, schedule, o).images));
}

TEST_F(Fixture, FullChainHasTSteps) {
  ddpm::SampleOptions o;
  o.classes = {0};
  int calls = 0;
  int64_t last_t = -1;
  const auto r = ddpm::sample(model, schedule, o, [&](const ddpm::StepView& v) {
    ++calls;
    EXPECT_EQ(v.total, 1000);
    EXPECT_EQ(v.t, 1000 - v.step);
    last_t = v.t;
  });
  EXPECT_EQ(calls, 1000);
  EXPECT_EQ(last_t, 0);
  EXPECT_TRUE(torch::isfinite(r.images).all().item<bool>());
}

TEST_F(Fixture, ImageOfASeedDoesNotDependOnTheBatch) {
  ddpm::SampleOptions o;
  o.steps = 20;
  o.seed = 7;
  o.batch = 3;
  o.classes = {2};
  const auto batch = ddpm::sample(model, schedule, o);
  o.batch = 1;
  o.seed = 8;  // image 1 of the batch above
  const auto single = ddpm::sample(model, schedule, o);
  // Batch 3 and batch 1 take different convolution and matrix kernels, and 20 ancestral steps of
  // this untrained net amplify their rounding: measured below 1e-4 on an Intel machine, 5.8e-4 on
  // an AMD EPYC with AVX-512. Image 1 drawn from another seed differs by order 1.
  EXPECT_LT((batch.images[1] - single.images[0]).abs().max().item<double>(), 2e-3);
}

TEST_F(Fixture, CancelStopsWithinOneStep) {
  std::atomic<bool> cancel{false};
  ddpm::SampleOptions o;
  o.steps = 100;
  const auto r = ddpm::sample(model, schedule, o, [&](const ddpm::StepView& v) {
    if (v.step == 3) cancel = true;
  }, &cancel);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.steps_done, 3);
  // A cancel that arrives before the run starts still cancels it.
  const auto r0 = ddpm::sample(model, schedule, o, {}, &cancel);
  EXPECT_TRUE(r0.cancelled);
  EXPECT_EQ(r0.steps_done, 0);
}

TEST_F(Fixture, LastStepEqualsTheX0Estimate) {
  // At t = 0, alpha_bar = alpha and 1 - alpha_bar = beta, so Algorithm 2's last step and the
  // x0 estimate are the same closed form.
  ddpm::SampleOptions o;
  o.steps = 10;
  torch::Tensor last_x0;
  const auto r = ddpm::sample(model, schedule, o,
                                   [&](const ddpm::StepView& v) { last_x0 = v.x0.clone(); });
  // Equal up to float32 rounding, relative to the values' size.
  const double scale = r.images.abs().max().item<double>();
  EXPECT_LT((r.images - last_x0).abs().max().item<double>(), 1e-6 * scale + 1e-6);
}

TEST_F(Fixture, AlphaCutoffClearsOnlyTheFinishedImagesFaintPixels) {
  ddpm::SampleOptions o;
  o.steps = 5;
  o.batch = 2;
  o.alpha_cutoff = 0;
  const torch::Tensor kept = ddpm::sample(model, schedule, o).images;
  o.alpha_cutoff = 0.5f;  // alpha below 0.5: below 0 in [-1, 1], about half of a random model's pixels
  torch::Tensor last_frame;
  const torch::Tensor cut =
      ddpm::sample(model, schedule, o, [&](const ddpm::StepView& v) { last_frame = v.x.clone(); }).images;
  EXPECT_TRUE(torch::equal(last_frame, cut));  // the last preview is the image the caller gets
  const torch::Tensor faint = kept.select(1, 3).lt(0).unsqueeze(1).expand_as(kept);
  ASSERT_GT(faint.sum().item<int64_t>(), 0);
  ASSERT_LT(faint.sum().item<int64_t>(), faint.numel());
  EXPECT_TRUE(torch::all(cut.masked_select(faint) == -1).item<bool>());  // colour and alpha
  EXPECT_TRUE(torch::equal(cut.masked_select(faint.logical_not()), kept.masked_select(faint.logical_not())));

  // fit_to_model gives a negative cutoff the model's own; other channel counts pass through.
  ddpm::io::ModelInfo info;
  info.unet = model->config();
  info.class_names = ddpm::io::default_class_names(info.unet.num_classes);
  info.alpha_cutoff = 0.05f;
  o.alpha_cutoff = -1;
  ddpm::fit_to_model(o, info);
  EXPECT_FLOAT_EQ(o.alpha_cutoff, 0.05f);
  const torch::Tensor rgb = -torch::ones({1, 3, 4, 4});
  EXPECT_TRUE(torch::equal(ddpm::clear_faint_alpha(rgb * 0.5, 0.9f), rgb * 0.5));
}

TEST_F(Fixture, GuidanceIsOneBatchedForwardOfBothBranches) {
  torch::NoGradGuard ng;
  model->eval();
  torch::manual_seed(12);
  const torch::Tensor x = torch::randn({3, 4, 8, 8});
  const torch::Tensor t = torch::tensor({900, 500, 10});
  const torch::Tensor got = ddpm::predict_noise(model, x, t, {0, 2, 1}, {3.0f, 1.0f, 0.0f});
  const torch::Tensor cond = model->forward(x, t, torch::tensor({0, 2, 1}));
  const torch::Tensor uncond = model->forward(x, t, torch::tensor({-1, -1, -1}));
  EXPECT_LT((got[0] - (uncond[0] + 3 * (cond[0] - uncond[0]))).abs().max().item<double>(), 1e-5);
  EXPECT_LT((got[1] - cond[1]).abs().max().item<double>(), 1e-5);    // scale 1: conditional
  EXPECT_LT((got[2] - uncond[2]).abs().max().item<double>(), 1e-5);  // scale 0: unconditional
}

TEST_F(Fixture, BadOptionsNameTheValueAndRange) {
  const auto message = [&](const ddpm::SampleOptions& o) {
    return ddpm::testing::error_of([&] { ddpm::sample(model, schedule, o); });
  };
  ddpm::SampleOptions o;
  o.steps = 1001;
  EXPECT_NE(message(o).find("steps 1001 is invalid: allowed 1 to 1000"), std::string::npos) << message(o);
  o = {};
  o.steps = -1;
  EXPECT_NE(message(o).find("steps -1"), std::string::npos);
  o = {};
  o.guidance = -0.5f;
  EXPECT_NE(message(o).find("guidance scale -0.5"), std::string::npos) << message(o);
  o = {};
  o.classes = {3};
  EXPECT_NE(message(o).find("class 3 is out of range: allowed -1 (none) to 2"), std::string::npos) << message(o);
  o = {};
  o.batch = 0;
  EXPECT_NE(message(o).find("batch size 0"), std::string::npos);
  o = {};
  o.alpha_cutoff = 1;
  EXPECT_NE(message(o).find("alpha cutoff 1 is invalid"), std::string::npos) << message(o);
  o = {};
  o.batch = 2;
  o.classes = {0, 1, 2};
  EXPECT_NE(message(o).find("3 class labels given for a batch of 2"), std::string::npos);
  ddpm::UNet unconditional = tiny(0);
  o = {};
  o.classes = {0};
  EXPECT_THROW(ddpm::sample(unconditional, schedule, o), ddpm::Error);
}

TEST(SpacedTimesteps, EvenlySpacedWithEnds) {
  EXPECT_EQ(ddpm::spaced_timesteps(1000, 1), (std::vector<int64_t>{999}));
  EXPECT_EQ(ddpm::spaced_timesteps(1000, 4), (std::vector<int64_t>{0, 333, 666, 999}));
  EXPECT_EQ(ddpm::spaced_timesteps(10, 10), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

}  // namespace

