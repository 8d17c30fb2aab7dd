// The trainer on real asset folders: learning, class-conditional samples, exact resume,
// clean cancel, fine-tuning with a new class, and bad folders.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "ddpm/dataset.h"
#include "ddpm/io/error.h"
#include "ddpm/io/png.h"
#include "ddpm/model_file.h"
#include "ddpm/sampler.h"
#include "ddpm/trainer.h"
#include "error_of.h"
#include "temp_dir.h"
#include "trained_model.h"

namespace fs = std::filesystem;

namespace {

const std::string kAssets = DDPM_SOURCE_DIR "/assets/samples";

using ddpm::testing::TempDir;

ddpm::TrainOptions quick(const std::string& assets = kAssets) {
  ddpm::TrainOptions o;
  o.assets = assets;
  o.architecture = ddpm::testing::tiny16_architecture();
  o.architecture->base_channels = 8;
  o.architecture->time_dim = 16;
  o.steps = 8;
  o.batch = 4;
  o.lr = 1e-3;
  o.seed = 3;
  return o;
}

// A 2-step model of quick()'s options, written in `d`, for the fine-tune tests to start from.
std::string quick_base_model(const TempDir& d) {
  ddpm::TrainOptions base = quick();
  base.steps = 2;
  base.out_model = d / "base.safetensors";
  ddpm::train(base);
  return base.out_model;
}

TEST(Trainer, ShortRunLowersTheLoss) {
  ddpm::TrainOptions o = quick();
  o.steps = 150;
  o.batch = 16;
  o.lr = 2e-3;
  std::vector<double> losses, smoothed;
  std::vector<std::string> messages;
  ddpm::train(o, [&](const ddpm::TrainProgress& p) {
    if (!p.message.empty()) {
      messages.push_back(p.message);
    } else {
      losses.push_back(p.loss);
      smoothed.push_back(p.loss_smoothed);
    }
  });
  ASSERT_EQ(losses.size(), 150u);
  // The progress's average: weights 0.98^age normalised to sum 1, from the first step on (its
  // first value is the first loss, not an average pulled toward 0 or held at that first loss).
  for (std::size_t n = 0; n < losses.size(); ++n) {
    double sum = 0, weights = 0;
    for (std::size_t k = 0; k <= n; ++k) {
      sum += std::pow(0.98, double(n - k)) * losses[k];
      weights += std::pow(0.98, double(n - k));
    }
    ASSERT_NEAR(smoothed[n], sum / weights, 1e-9 * sum / weights) << "step " << n + 1;
  }
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) first += losses[i] / 10;
  for (int i = 140; i < 150; ++i) last += losses[i] / 10;
  std::printf("loss: first 10 steps %.3f, last 10 steps %.3f\n", first, last);
  EXPECT_LT(last, 0.5 * first);
  ASSERT_GE(messages.size(), 2u);
  const auto said = [&](const std::string& text) {
    for (const auto& m : messages) if (m.find(text) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(said("loaded 60 images in 3 classes"));
  // The emoji's backgrounds are clear: samples' faint alpha is cleared (AssetDataset::alpha_coverage).
  EXPECT_TRUE(said("alpha below 0.05 will be cleared"));
}

TEST(Trainer, SamplesCanBeToldApartByClass) {
  // The model the sampler tests share, trained by this trainer for 1500 steps.
  ddpm::Model m = ddpm::testing::trained_sample_model();
  const auto [real, labels] = ddpm::testing::sample_assets_16();
  std::vector<torch::Tensor> means;
  for (int64_t c = 0; c < 3; ++c) {
    means.push_back(real.index_select(0, torch::nonzero(labels == c).flatten()).mean(0));
  }
  ddpm::SampleOptions o;
  o.batch = 24;
  for (int i = 0; i < 24; ++i) o.classes.push_back(i % 3);
  o.sampler = ddpm::SamplerKind::DDPM;
  o.steps = 100;
  o.guidance = 2.0f;
  o.clip_x0 = true;
  o.seed = 40;
  const torch::Tensor x = ddpm::sample(m.unet, m.schedule, o).images.clamp(-1, 1);
  int correct = 0;
  for (int i = 0; i < 24; ++i) {
    int best = 0;
    double best_d = 1e9;
    for (int c = 0; c < 3; ++c) {
      const double d = (x[i] - means[c]).pow(2).mean().item<double>();
      if (d < best_d) best_d = d, best = c;
    }
    correct += best == o.classes[i];
  }
  std::printf("nearest-class-mean accuracy of guided samples: %d/24 (chance 8/24)\n", correct);
  EXPECT_GE(correct, 16);
}

TEST(Trainer, ResumesWithTheSameLossesAndCancelLeavesACheckpoint) {
  TempDir d;
  ddpm::TrainOptions straight = quick();
  straight.steps = 6;
  std::vector<double> all;
  ddpm::train(straight, [&](const ddpm::TrainProgress& p) { if (p.message.empty()) all.push_back(p.loss); });

  ddpm::TrainOptions o = quick();
  o.steps = 6;
  o.checkpoint = d / "run.ckpt";
  o.out_model = d / "model.safetensors";
  std::atomic<bool> cancel{false};
  std::vector<double> part;
  const auto r = ddpm::train(o, [&](const ddpm::TrainProgress& p) {
    if (!p.message.empty()) return;
    part.push_back(p.loss);
    if (p.step == 3) cancel = true;
  }, &cancel);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.steps_done, 3);
  EXPECT_NO_THROW(ddpm::load_model(o.out_model));  // a cancelled run still leaves a model
  const auto resumed = ddpm::train(o, [&](const ddpm::TrainProgress& p) { if (p.message.empty()) part.push_back(p.loss); });
  EXPECT_FALSE(resumed.cancelled);
  EXPECT_EQ(resumed.steps_done, 6);
  ASSERT_EQ(part.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(part[i], all[i]) << "step " << i + 1;
}

TEST(Trainer, FineTuningAddsClassesKeepsTheOldRowsAndStartsSubclassesFromTheirParent) {
  TempDir d;
  // A base model that knows two of the folder's classes under other indices.
  fs::create_directories(d.path / "assets");
  for (const auto& c : {"animals", "smileys", "travel"}) {
    fs::copy(kAssets + "/" + c, d.path / "assets" / c);
  }
  ddpm::TrainOptions base = quick((d.path / "assets").string());
  base.steps = 2;
  base.out_model = d / "base.safetensors";
  fs::rename(d.path / "assets" / "travel", d.path / "travel_later");
  ddpm::train(base);
  const ddpm::Model before = ddpm::load_model(base.out_model);
  EXPECT_EQ(before.info.class_names, (std::vector<std::string>{"animals", "smileys"}));
  EXPECT_FLOAT_EQ(before.info.alpha_cutoff, ddpm::kAlphaCutoff);  // emoji: clear backgrounds

  fs::rename(d.path / "travel_later", d.path / "assets" / "travel");
  // Subclasses: of a known class, of a class new in this run, and of a subclass.
  fs::copy(kAssets + "/smileys", d.path / "assets" / "smileys.faces");
  fs::copy(kAssets + "/smileys", d.path / "assets" / "smileys.faces.happy");
  fs::copy(kAssets + "/travel", d.path / "assets" / "travel.night");
  ddpm::TrainOptions tune = quick((d.path / "assets").string());
  tune.init_model = base.out_model;
  tune.steps = 1;
  tune.lr = 1e-12;  // step 0's weights, give or take nothing
  tune.out_model = d / "tuned.safetensors";
  ddpm::train(tune);
  const ddpm::Model after = ddpm::load_model(tune.out_model);
  EXPECT_EQ(after.info.class_names, (std::vector<std::string>{"animals", "smileys", "smileys.faces",
                                                                "smileys.faces.happy", "travel", "travel.night"}));
  const auto old_rows = ddpm::state_dict(*before.unet).at("label_emb.weight");
  const auto new_rows = ddpm::state_dict(*after.unet).at("label_emb.weight");
  ASSERT_EQ(new_rows.size(0), 6);
  const auto same = [](const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>() < 1e-6; };
  EXPECT_TRUE(same(new_rows.narrow(0, 0, 2), old_rows));
  // A subclass starts from its parent's row (through a subclass, or a parent new in this run);
  // a class with no parent from a fresh one.
  EXPECT_TRUE(same(new_rows[2], old_rows[1]));
  EXPECT_TRUE(same(new_rows[3], old_rows[1]));
  EXPECT_TRUE(same(new_rows[5], new_rows[4]));
  EXPECT_FALSE(same(new_rows[4], old_rows[0]));
  EXPECT_FALSE(same(new_rows[4], old_rows[1]));
}

TEST(Trainer, WritesSampleGridsAndFreezesAllButTheHead) {
  TempDir d;
  ddpm::TrainOptions base = quick();
  base.steps = 2;
  base.sample_every = 2;
  base.sample_dir = d / "grids";
  base.out_model = d / "base.safetensors";
  std::string grid;
  ddpm::train(base, [&](const ddpm::TrainProgress& p) { if (!p.sample_grid.empty()) grid = p.sample_grid; });
  ASSERT_EQ(grid, d / "grids/step_2.png");
  const auto image = ddpm::io::read_image(grid);  // 4 images per class, 3 classes, 16 px
  EXPECT_EQ(image.width, 4 * 16 + 5 * 2);
  EXPECT_EQ(image.height, 3 * 16 + 4 * 2);

  ddpm::TrainOptions tune = quick();
  tune.init_model = base.out_model;
  tune.freeze = true;
  tune.steps = 3;
  tune.lr = 1e-2;
  tune.out_model = d / "tuned.safetensors";
  tune.ema_start = 100;  // the output then holds the trained weights themselves
  ddpm::train(tune);
  const auto before = ddpm::state_dict(*ddpm::load_model(base.out_model).unet);
  const auto after = ddpm::state_dict(*ddpm::load_model(tune.out_model).unet);
  int changed = 0, frozen_changed = 0;
  for (const auto& [name, w] : after) {
    const bool differs = !torch::equal(w, before.at(name));
    const bool head = name.rfind("label_emb.", 0) == 0 || name.rfind("outc.", 0) == 0 ||
                      name.rfind("up2.", 0) == 0;  // tiny16 has 2 levels
    changed += differs && head;
    frozen_changed += differs && !head;
  }
  EXPECT_GT(changed, 0);
  EXPECT_EQ(frozen_changed, 0);
}

TEST(Trainer, FineTuneGridsShowTheFolderClassesAndTheFinalModel) {
  TempDir d;
  const std::string base = quick_base_model(d);
  fs::create_directories(d.path / "one");
  fs::copy(kAssets + "/smileys", d.path / "one" / "smileys");
  ddpm::TrainOptions tune = quick((d.path / "one").string());
  tune.init_model = base;
  tune.steps = 3;
  tune.sample_dir = d / "grids";  // sample_every 0: only the first and the final model's grids
  tune.out_model = d / "tuned.safetensors";
  std::vector<std::string> grids;
  ddpm::train(tune, [&](const ddpm::TrainProgress& p) {
    if (!p.sample_grid.empty() && (grids.empty() || grids.back() != p.sample_grid)) grids.push_back(p.sample_grid);
  });
  // The model before the fine-tune, then the final one.
  ASSERT_EQ(grids, (std::vector<std::string>{d / "grids/step_0.png", d / "grids/step_3.png"}));
  const auto image = ddpm::io::read_image(grids[1]);  // one row: smileys, of the model's three
  EXPECT_EQ(image.height, 16 + 2 * 2);
  EXPECT_EQ(ddpm::load_model(tune.out_model).info.class_names.size(), 3u);
}

TEST(Trainer, AGridThatCannotBeWrittenDoesNotStopTheRun) {
  TempDir d;
  ddpm::TrainOptions tune = quick();
  tune.init_model = quick_base_model(d);
  tune.steps = 3;
  tune.sample_dir = d / "grids";
  tune.out_model = d / "tuned.safetensors";
  std::vector<std::string> messages;
  ddpm::train(tune, [&](const ddpm::TrainProgress& p) {
    if (p.message.empty()) return;
    messages.push_back(p.message);
    if (messages.back().rfind("sample grid: ", 0) == 0) {  // the folder becomes a file after the first grid
      fs::remove_all(tune.sample_dir);
      std::ofstream(tune.sample_dir) << "in the way";
    }
  });
  ASSERT_GE(messages.size(), 2u);
  EXPECT_NE(messages.back().find("no sample grid this time"), std::string::npos) << messages.back();
  EXPECT_EQ(ddpm::load_model(tune.out_model).info.training_step, 3);  // the run ended and was written
}

TEST(Trainer, TimeBudgetPicksTheStepsAndEndsOnTime) {
  TempDir d;
  ddpm::TrainOptions o = quick();
  o.minutes = 0.05;  // 3 s; `steps` is not used
  o.steps = 1;
  o.decay_from = 0.5;
  o.out_model = d / "budget.safetensors";
  o.sample_dir = d / "grids";
  int64_t last_total = -1, last_step = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const ddpm::TrainResult r = ddpm::train(o, [&](const ddpm::TrainProgress& p) {
    if (p.message.empty()) {
      last_total = p.total;
      last_step = p.step;
    }
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("3 s budget: %lld steps in %.2f s\n", static_cast<long long>(r.steps_done), seconds);
  // Not cut at `steps` (1): a tiny net makes dozens of steps in 3 s, but a loaded machine
  // (ctest -j2 beside the heavy tests) once gave it only 2.
  EXPECT_GT(r.steps_done, 1);
  EXPECT_EQ(last_step, r.steps_done);
  EXPECT_EQ(last_total, r.steps_done);  // the plan converged on the steps made
  // The plan ends the run on time: slack for one step and the final grid, even under sanitizers.
  EXPECT_LT(seconds, 3.0 + 2.0);
  EXPECT_GT(seconds, 0.6 * 3.0);  // and uses the budget (0.5 s is kept back for the writes)
  EXPECT_TRUE(fs::exists(d / ("grids/step_" + std::to_string(r.steps_done) + ".png")));
  EXPECT_EQ(ddpm::load_model(o.out_model).info.training_step, r.steps_done);
}

TEST(Trainer, BadFoldersAndOptionsAreNamed) {
  using ddpm::testing::error_of;
  TempDir d;
  ddpm::TrainOptions o = quick("/nonexistent/sprites");
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("'/nonexistent/sprites' does not exist"), std::string::npos);
  o = quick(d.path.string());
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("no class subfolders"), std::string::npos);
  fs::create_directories(d.path / "coins");
  std::ofstream(d.path / "coins" / "readme.txt") << "no images here";
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("holds no image that decodes"), std::string::npos);
  o = quick();
  o.batch = -1;  // 0 is automatic
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("batch = -1 is invalid"), std::string::npos);
  o = quick();
  o.lr = -1;
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("lr = -1 is invalid"), std::string::npos);
  o = quick();
  o.init_model = d / "missing.safetensors";
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("missing.safetensors"), std::string::npos);
  o = quick();
  o.out_model = d / "no_folder/m.safetensors";  // refused before any step
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("folder '" + d / "no_folder" + "' does not exist"), std::string::npos);
  o = quick();
  o.checkpoint = d.path.string();
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("training checkpoint '" + d.path.string() + "': it is a folder"),
            std::string::npos);
  o = quick();
  o.device = "tpu";
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("device = 'tpu' is invalid"), std::string::npos);
  o = quick();
  o.device = "cuda";
  o.distributed.world_size = 2;
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("data-parallel runs train on the CPU"), std::string::npos);
  if (!torch::cuda::is_available()) {  // a CPU build names the problem instead of crashing
    o = quick();
    o.device = "cuda";
    EXPECT_NE(error_of([&] { ddpm::train(o); }).find("no CUDA device"), std::string::npos);
  }
}

TEST(Trainer, OddImagesInAFolder) {
  TempDir d;
  fs::create_directories(d.path / "a");
  ddpm::io::Image one(1, 1, 4);
  one.pixels = {255, 0, 0, 255};
  ddpm::io::write_png(d / "a/one_pixel.png", one);        // upscaled like any other
  std::ofstream(d / "a/corrupt.png") << "\x89PNG\r\n\x1a\n broken";
  ddpm::io::write_png(d / "a/rgb.png", ddpm::io::Image(8, 8, 3));  // no alpha: made opaque
  ddpm::TrainOptions o = quick(d.path.string());
  o.steps = 1;
  const auto r = ddpm::train(o);
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].find("corrupt.png"), std::string::npos);
  EXPECT_EQ(r.info.class_names, std::vector<std::string>{"a"});
}

}  // namespace
