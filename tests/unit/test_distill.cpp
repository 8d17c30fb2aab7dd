// Distillation: the step grids, the one-step target against a closed form (a teacher that knows
// the data exactly), students that start as their teacher, guidance distillation that learns,
// model files that say what they are, and how such a model must be sampled.
#include <gtest/gtest.h>

#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>

#include "ddpm/diffusion.h"
#include "ddpm/distill.h"
#include "ddpm/guidance.h"
#include "ddpm/model_file.h"
#include "ddpm/model_sampling.h"
#include "ddpm/sampler_steps.h"
#include "ddpm/trainer.h"
#include "error_of.h"
#include "temp_dir.h"
#include "trained_model.h"

namespace fs = std::filesystem;
using ddpm::testing::error_of;

namespace {

const std::string kAssets = DDPM_SOURCE_DIR "/assets/samples";
const std::string kTeacher = DDPM_TEST_CACHE_DIR "/samples16.safetensors";  // trained_sample_model's file

using ddpm::testing::TempDir;

ddpm::io::ModelInfo distilled_info(int steps) {
  ddpm::io::ModelInfo info = ddpm::testing::trained_sample_model().info;
  return ddpm::student_info(info, ddpm::DistillSpec{steps, 2, 1.0f, 5.0f});
}

}  // namespace

TEST(Distill, GridsFollowTheSamplerAndNest) {
  const auto schedule = ddpm::make_schedule();
  EXPECT_EQ(ddpm::student_grid(schedule, 4, ddpm::Spacing::Trailing), (std::vector<int64_t>{999, 749, 499, 249, -1}));
  EXPECT_EQ(ddpm::student_grid(schedule, 1, ddpm::Spacing::Trailing), (std::vector<int64_t>{999, -1}));
  // SDE students learn the searched grid where there is one, trailing elsewhere.
  EXPECT_EQ(ddpm::default_student_spacing(true), ddpm::Spacing::Tuned);
  EXPECT_EQ(ddpm::default_student_spacing(false), ddpm::Spacing::Trailing);
  EXPECT_EQ(ddpm::student_grid(schedule, 4, ddpm::Spacing::Tuned), (std::vector<int64_t>{750, 650, 450, 140, -1}));
  EXPECT_EQ(ddpm::student_grid(schedule, 2, ddpm::Spacing::Tuned), (std::vector<int64_t>{700, 450, -1}));
  // Two teacher steps per student step land on the 8-step grid: rounds chain.
  EXPECT_EQ(ddpm::teacher_path(999, 749, 2), (std::vector<int64_t>{999, 874, 749}));
  EXPECT_EQ(ddpm::teacher_path(249, -1, 2), (std::vector<int64_t>{249, 124, -1}));
  EXPECT_EQ(ddpm::teacher_path(499, 249, 5), (std::vector<int64_t>{499, 449, 399, 349, 299, 249}));
  EXPECT_EQ(ddpm::teacher_path(5, 4, 3), (std::vector<int64_t>{5, 4}));  // no point in between
}

TEST(Distill, OneStepTargetIsTheDataForAnExactTeacher) {
  // Data = one image x*: the exact noise prediction is (z - a x*) / s, every DDIM step stays on
  // the line a x* + s eps, and the image one step must aim at is x* itself, whatever the path.
  const ddpm::NoiseSchedule schedule = ddpm::make_schedule();
  torch::manual_seed(3);
  const torch::Tensor x_star = torch::rand({3, 4, 8, 8}) * 1.8 - 0.9;
  const ddpm::NoisePredictor exact = [&](const torch::Tensor& z, const torch::Tensor& t) {
    const torch::Tensor ab = ddpm::extract(schedule.alpha_bars, t);
    return (z - ab.sqrt() * x_star) / (1 - ab).sqrt();
  };
  const std::vector<std::vector<int64_t>> paths = {ddpm::teacher_path(999, 749, 2), ddpm::teacher_path(249, -1, 4),
                                                   ddpm::teacher_path(499, 249, 3)};
  const torch::Tensor t0 = torch::tensor({999, 249, 499}), t_end = torch::tensor({749, -1, 249});
  const torch::Tensor ab0 = ddpm::extract(schedule.alpha_bars, t0);
  const torch::Tensor z0 = ab0.sqrt() * x_star + (1 - ab0).sqrt() * torch::randn_like(x_star);
  const torch::Tensor z_end = ddpm::ddim_walk(exact, schedule, z0, paths);
  EXPECT_LT((z_end[1] - x_star[1]).abs().max().item<double>(), 1e-5);  // the last step lands on x*
  const torch::Tensor target = ddpm::one_step_target(schedule, z0, t0, z_end, t_end);
  EXPECT_LT((target - x_star).abs().max().item<double>(), 1e-4);

  // The stochastic target, whatever the teacher's noise: the estimates were all x*.
  at::Generator gen = at::detail::createCPUGenerator(8);
  const torch::Tensor sde = ddpm::sde_target(exact, schedule, z0, paths, ddpm::path_noise(paths, z0.sizes(), gen));
  EXPECT_LT((sde - x_star).abs().max().item<double>(), 1e-4);

  // A teacher that is not exact gives a target that is not its own one-step estimate.
  const ddpm::NoisePredictor biased = [&](const torch::Tensor& z, const torch::Tensor& t) {
    return exact(z, t) * 1.05;
  };
  const torch::Tensor off = ddpm::one_step_target(schedule, z0, t0, ddpm::ddim_walk(biased, schedule, z0, paths), t_end);
  EXPECT_GT((off - x_star).abs().max().item<double>(), 1e-2);
}

// The stochastic teacher walks the product's sampler: with its noise zero, its end point
// c_x z0 + S (S = c_D * target) is where DPM-Solver++ 2M SDE's own steps (DpmSolverPP2M,
// second order from its second step, the estimate as it is on the last step to the clean image)
// take the same start along the same timesteps, for a teacher that is not exact.
TEST(Distill, StochasticTeacherWalksTheSamplersSecondOrderSteps) {
  const ddpm::NoiseSchedule schedule = ddpm::make_schedule();
  torch::manual_seed(5);
  const torch::Tensor x_star = torch::rand({1, 3, 8, 8}) * 1.8 - 0.9;
  const ddpm::NoisePredictor teacher = [&](const torch::Tensor& z, const torch::Tensor& t) {
    const torch::Tensor ab = ddpm::extract(schedule.alpha_bars, t);
    return (z - ab.sqrt() * x_star) / (1 - ab).sqrt() * 1.1 + 0.05 * z.sin();
  };
  for (const std::vector<int64_t>& path : {ddpm::teacher_path(999, 700, 5), ddpm::teacher_path(140, -1, 5)}) {
    const torch::Tensor ab0 = ddpm::extract(schedule.alpha_bars, torch::tensor({path.front()}));
    const torch::Tensor z0 = ab0.sqrt() * x_star + (1 - ab0).sqrt() * torch::randn_like(x_star);
    std::vector<torch::Tensor> silent(path.size() - 1, torch::zeros_like(z0));
    const torch::Tensor target = ddpm::sde_target(teacher, schedule, z0, {path}, silent);

    ddpm::steps::DpmSolverPP2M solver;
    torch::Tensor z = z0;
    for (size_t j = 0; j + 1 < path.size(); ++j) {
      const double ab = schedule.alpha_bars[path[j]].item<double>();
      const double ab_next = path[j + 1] < 0 ? 1.0 : schedule.alpha_bars[path[j + 1]].item<double>();
      const torch::Tensor x0 = ((z - std::sqrt(1 - ab) * teacher(z, torch::tensor({path[j]}))) / std::sqrt(ab)).clamp(-1, 1);
      z = solver.step_sde(z, x0, ab, ab_next, torch::zeros_like(z));
    }
    // One step's coefficients from the start to the end (the steps' c_x telescope into its).
    const double a0 = ab0.item<double>(), ab_end = path.back() < 0 ? 1.0 : schedule.alpha_bars[path.back()].item<double>();
    const double e_all = std::sqrt(a0 * (1 - ab_end) / ((1 - a0) * ab_end));
    const double c_x = std::sqrt((1 - ab_end) / (1 - a0)) * e_all;
    const torch::Tensor predicted_end = c_x * z0 + std::sqrt(ab_end) * (1 - e_all * e_all) * target;
    EXPECT_LT((predicted_end - z).abs().max().item<double>(), 1e-4) << path.front();
  }
}

TEST(Distill, StudentStartsAsTheTeachersConditionalBranchAndSaysWhatItIs) {
  TempDir dir;
  ddpm::Model teacher = ddpm::testing::trained_sample_model();
  const ddpm::io::ModelInfo info = distilled_info(4);
  EXPECT_TRUE(info.unet.guidance_input);
  EXPECT_EQ(info.distilled_steps, 4);
  EXPECT_FLOAT_EQ(info.guidance, 3.0f);
  ddpm::Model student = ddpm::make_model(info);
  {  // as the trainer makes it: every tensor of the teacher by name (all but guidance_emb)
    torch::NoGradGuard no_grad;
    auto own = ddpm::state_dict(*student.unet);
    for (const auto& [name, value] : ddpm::state_dict(*teacher.unet)) own.at(name).copy_(value);
  }
  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({2, 4, 16, 16});
  const torch::Tensor t = torch::tensor({900, 100}), y = torch::tensor({0, 2});
  torch::NoGradGuard no_grad;
  const torch::Tensor cond = teacher.unet->forward(x, t, y);
  for (float w : {1.0f, 4.0f}) {
    EXPECT_TRUE(torch::equal(student.unet->forward(x, t, y, false, torch::full({2}, w)), cond)) << w;
  }
  EXPECT_NE(error_of([&] { student.unet->forward(x, t, y); }).find("takes a guidance scale"), std::string::npos);
  EXPECT_NE(error_of([&] { teacher.unet->forward(x, t, y, false, torch::ones({2})); }).find("does not take a guidance"),
            std::string::npos);

  // The file round-trips the description; an older reader's fields are untouched.
  ddpm::save_model(dir / "student.safetensors", student.unet, info);
  const ddpm::Model back = ddpm::load_model(dir / "student.safetensors");
  EXPECT_TRUE(back.info.unet.guidance_input);
  EXPECT_EQ(back.info.distilled_steps, 4);
  EXPECT_FLOAT_EQ(back.info.guidance_min, 1.0f);
  EXPECT_FLOAT_EQ(back.info.guidance_max, 5.0f);
  EXPECT_EQ(ddpm::io::to_json(back.info), ddpm::io::to_json(info));
  EXPECT_EQ(ddpm::io::to_json(teacher.info).find("distilled"), std::string::npos);
}

TEST(Distill, StudentDescriptionsAreChecked) {
  const ddpm::io::ModelInfo teacher = ddpm::testing::trained_sample_model().info;
  const ddpm::io::ModelInfo four = distilled_info(4);
  EXPECT_NE(error_of([&] { ddpm::student_info(four, ddpm::DistillSpec{8, 2, 1, 5}); }).find("a student needs fewer"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ddpm::student_info(four, ddpm::DistillSpec{2, 2, 1, 9}); }).find("outside the teacher's"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ddpm::student_info(teacher, ddpm::DistillSpec{4, 2, 5, 1}); }).find("need 1 <= min <= max"),
            std::string::npos);
  ddpm::io::ModelInfo unconditional = teacher;
  unconditional.unet.num_classes = 0;
  unconditional.class_names.clear();
  EXPECT_NE(error_of([&] { ddpm::student_info(unconditional, ddpm::DistillSpec{}); }).find("class-conditional teacher"),
            std::string::npos);
  EXPECT_EQ(ddpm::student_info(four, ddpm::DistillSpec{2, 2, 2, 4}).distilled_steps, 2);
  // A description that claims a range without the input, or a default outside its range.
  ddpm::io::ModelInfo bad = teacher;
  bad.guidance_max = 4;
  EXPECT_NE(error_of([&] { bad.validate(); }).find("does not take a guidance scale"), std::string::npos);
  bad = four;
  bad.guidance = 7;
  EXPECT_NE(error_of([&] { bad.validate(); }).find("outside the model's guidance range"), std::string::npos);
}

TEST(Distill, DistilledModelsAreSampledAsTheyWereTrained) {
  const ddpm::io::ModelInfo four = distilled_info(4);
  ddpm::SampleOptions o;
  o.sampler = ddpm::SamplerKind::DPMSolverPP2MSDE;
  o.eta = 0.5f;
  const auto warnings = ddpm::fit_to_model(o, four);
  EXPECT_EQ(o.sampler, ddpm::SamplerKind::DDIM);
  EXPECT_EQ(o.eta, 0.0f);
  EXPECT_EQ(o.spacing, ddpm::Spacing::Trailing);
  EXPECT_EQ(o.steps, 4);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("distilled for 4 ddim steps"), std::string::npos);
  EXPECT_FALSE(o.first_order);
  o.steps = 2;  // fewer steps than distilled for stay the caller's choice
  ddpm::fit_to_model(o, four);
  EXPECT_EQ(o.steps, 2);
  o.guidance = 7;
  EXPECT_NE(error_of([&] { ddpm::fit_to_model(o, four); }).find("allowed 0 (unconditional) or 1 to 5"), std::string::npos);
  o.guidance = 0;
  EXPECT_NO_THROW(ddpm::fit_to_model(o, four));

  // Distilled for SDE steps: DPM-Solver++ SDE at first order on the grid it learnt, as the
  // student was trained; the grid survives the file.
  ddpm::io::ModelInfo sde = ddpm::student_info(ddpm::testing::trained_sample_model().info,
                                               ddpm::DistillSpec{4, 5, 1.0f, 5.0f, true, ddpm::Spacing::Tuned});
  EXPECT_EQ(sde.distilled_sampler, "dpmpp2m_sde");
  EXPECT_EQ(sde.distilled_spacing, "tuned");
  EXPECT_EQ(ddpm::io::model_info_from_json(ddpm::io::to_json(sde), "x").distilled_spacing, "tuned");
  ddpm::SampleOptions s;
  s.sampler = ddpm::SamplerKind::DDIM;
  EXPECT_EQ(ddpm::fit_to_model(s, sde).size(), 2u);  // the sampler and the grid
  EXPECT_EQ(s.sampler, ddpm::SamplerKind::DPMSolverPP2MSDE);
  EXPECT_EQ(s.spacing, ddpm::Spacing::Tuned);
  EXPECT_TRUE(s.first_order);
  EXPECT_EQ(ddpm::default_spacing(sde, ddpm::SamplerKind::DPMSolverPP2MSDE, 4), ddpm::Spacing::Tuned);
  // A file from before the field: the trailing grid it was distilled on.
  ddpm::io::ModelInfo old_sde = sde;
  old_sde.distilled_spacing = "trailing";
  EXPECT_EQ(ddpm::io::to_json(old_sde).find("spacing"), std::string::npos);
  EXPECT_EQ(ddpm::default_spacing(old_sde, ddpm::SamplerKind::DPMSolverPP2MSDE, 4), ddpm::Spacing::Trailing);
  old_sde.distilled_spacing = "logsnr";
  EXPECT_NE(error_of([&] { old_sde.validate(); }).find("'distilled.spacing' = 'logsnr' is invalid"), std::string::npos);
  EXPECT_NE(error_of([&] { ddpm::student_info(sde, ddpm::DistillSpec{2, 2, 1.0f, 5.0f, false}); }).find("its student must be too"),
            std::string::npos);

  // Guidance distilled only: every sampler, any scale in the range.
  const ddpm::io::ModelInfo guided = distilled_info(0);
  ddpm::SampleOptions g;
  g.sampler = ddpm::SamplerKind::DPMSolverPP2MSDE;
  EXPECT_TRUE(ddpm::fit_to_model(g, guided).empty());
  EXPECT_EQ(g.sampler, ddpm::SamplerKind::DPMSolverPP2MSDE);
  EXPECT_EQ(g.steps, 0);
  g.guidance_rescale = 0.5f;
  EXPECT_NE(error_of([&] { ddpm::validate(g, guided.unet, 1000); }).find("guidance distilled in"), std::string::npos);
  // The grid a caller who names none gets: the trailing grid a step-distilled model was
  // trained on, else the sampler's own (tuned at 4 steps for DPM-Solver++ 2M, both variants,
  // and DDIM; trailing for Euler a).
  EXPECT_EQ(ddpm::default_spacing(guided, ddpm::SamplerKind::DPMSolverPP2MSDE, 4), ddpm::Spacing::Tuned);
  EXPECT_EQ(ddpm::default_spacing(guided, ddpm::SamplerKind::DDIM, 4), ddpm::Spacing::Tuned);
  EXPECT_EQ(ddpm::default_spacing(guided, ddpm::SamplerKind::EulerAncestral, 4), ddpm::Spacing::Trailing);
  EXPECT_EQ(ddpm::default_spacing(four, ddpm::SamplerKind::DPMSolverPP2MSDE, 8), ddpm::Spacing::Trailing);
  EXPECT_EQ(ddpm::default_spacing(ddpm::testing::trained_sample_model().info, ddpm::SamplerKind::DPMSolverPP2MSDE, 4),
            ddpm::Spacing::Tuned);
  EXPECT_EQ(ddpm::default_spacing(ddpm::testing::trained_sample_model().info, ddpm::SamplerKind::DPMSolverPP2MSDE, 8),
            ddpm::Spacing::LogSnr);

  ddpm::StreamOptions so;
  so.steps = 0;
  ddpm::fit_to_model(so, four);
  EXPECT_EQ(so.steps, 4);
  so.steps = 0;
  so.sampler = ddpm::SamplerKind::DDIM;
  EXPECT_EQ(ddpm::fit_to_model(so, sde).size(), 1u);  // the sampler; a stream's grid is never named
  EXPECT_EQ(so.spacing, ddpm::Spacing::Tuned);
  so.steps = 0;
  ddpm::fit_to_model(so, ddpm::testing::trained_sample_model().info);
  EXPECT_EQ(so.steps, 8);
}

TEST(Distill, GuidanceDistillationLearnsTheGuidedPrediction) {
  TempDir dir;
  ddpm::Model teacher = ddpm::testing::trained_sample_model();
  ddpm::TrainOptions o;
  o.assets = kAssets;
  o.init_model = kTeacher;
  o.distill = true;
  o.pixel_art = true;
  o.steps = 200;
  o.batch = 16;
  o.lr = 1e-3;
  o.seed = 4;
  o.out_model = dir / "student.safetensors";
  const ddpm::TrainResult r = ddpm::train(o);
  EXPECT_EQ(r.steps_done, 200);
  ddpm::Model student = ddpm::load_model(o.out_model);
  ASSERT_TRUE(student.info.unet.guidance_input);
  EXPECT_EQ(student.info.distilled_steps, 0);

  // On held-out noise: the student at scale 3 against the teacher's guided prediction, compared
  // with where it started (the teacher's conditional prediction, which ignores the scale).
  torch::NoGradGuard no_grad;
  torch::manual_seed(9);
  const auto [x0, labels] = ddpm::testing::sample_assets_16();
  const torch::Tensor t = torch::randint(50, 950, {x0.size(0)}, torch::kLong);
  const torch::Tensor z = ddpm::q_sample(teacher.schedule, x0, t, torch::randn_like(x0));
  const std::vector<int64_t> classes(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
  const std::vector<float> scale(classes.size(), 3.0f);
  const torch::Tensor guided = ddpm::predict_noise(teacher.unet, z, t, classes, scale);
  const torch::Tensor start = teacher.unet->forward(z, t, labels);
  const torch::Tensor learned = ddpm::predict_noise(student.unet, z, t, classes, scale);
  const double before = (start - guided).pow(2).mean().item<double>();
  const double after = (learned - guided).pow(2).mean().item<double>();
  EXPECT_LT(after, 0.5 * before) << "before " << before << ", after " << after;
}

TEST(Distill, BadRunsAreRefusedByName) {
  TempDir dir;
  ddpm::testing::trained_sample_model();
  ddpm::TrainOptions o;
  o.assets = kAssets;
  o.distill = true;
  o.steps = 2;
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("distillation needs a teacher"), std::string::npos);
  o.init_model = kTeacher;
  o.distill_guidance_min = 6;
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("need 1 <= min <= max <= 100"), std::string::npos);
  o.distill_guidance_min = 1;
  o.pixel_art = true;
  o.out_model = dir / "student.safetensors";
  ddpm::train(o);
  // A distilled model is not fine-tuned further as an ordinary model.
  ddpm::TrainOptions tune;
  tune.assets = kAssets;
  tune.init_model = o.out_model;
  tune.steps = 1;
  EXPECT_NE(error_of([&] { ddpm::train(tune); }).find("is a distilled model"), std::string::npos);
  // Nor resumed as the other kind of run.
  o.checkpoint = dir / "run.ckpt";
  ddpm::train(o);
  tune.init_model = kTeacher;
  tune.checkpoint = o.checkpoint;
  tune.steps = 4;
  EXPECT_NE(error_of([&] { ddpm::train(tune); }).find("resume it with the same kind of run"), std::string::npos);
}

TEST(Distill, StochasticStepDistillationResumesExactly) {
  TempDir dir;
  ddpm::testing::trained_sample_model();
  ddpm::TrainOptions o;
  o.assets = kAssets;
  o.init_model = kTeacher;
  o.distill = true;
  o.distill_steps = 2;
  o.distill_substeps = 3;
  o.distill_stochastic = true;
  o.pixel_art = true;
  o.batch = 4;
  o.seed = 6;
  o.steps = 6;
  o.out_model = dir / "straight.safetensors";
  ddpm::train(o);
  o.checkpoint = dir / "run.ckpt";
  o.steps = 3;
  o.out_model = dir / "half.safetensors";
  ddpm::train(o);
  o.steps = 6;
  o.out_model = dir / "resumed.safetensors";
  EXPECT_EQ(ddpm::train(o).steps_done, 6);
  const ddpm::Model a = ddpm::load_model(dir / "straight.safetensors"), b = ddpm::load_model(dir / "resumed.safetensors");
  EXPECT_EQ(b.info.distilled_sampler, "dpmpp2m_sde");
  EXPECT_EQ(b.info.distilled_steps, 2);
  const auto sa = ddpm::state_dict(*a.unet), sb = ddpm::state_dict(*b.unet);
  for (const auto& [name, value] : sa) EXPECT_TRUE(torch::equal(value, sb.at(name))) << name;
}
