// Low-rank adapters (ddpm/lora.h): a fresh adapter changes nothing, an adapted forward equals
// the forward of the merged weights W + up · down (plain and tiled), only the adapters and the
// small rest get gradients, a LoRA fine-tune learns a new style, changes every adapted weight
// by a delta of at most its rank, leaves the file an ordinary model, and resumes exactly; in
// bf16 mixed precision it follows float32 closely (or is refused by name without AVX512-BF16).
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>

#include <filesystem>

#include "ddpm/dataset.h"
#include "ddpm/io/png.h"
#include "ddpm/lora.h"
#include "ddpm/loss.h"
#include "ddpm/model_file.h"
#include "ddpm/precision.h"
#include "ddpm/trainer.h"
#include "ddpm/training_checkpoint.h"
#include "error_of.h"
#include "temp_dir.h"
#include "trained_model.h"

namespace fs = std::filesystem;

namespace {

using ddpm::testing::TempDir;

bool adapted_weight(const std::string& name) {
  for (const char* end : {"double_conv.0.weight", "double_conv.3.weight", "in_proj_weight", "out_proj.weight",
                          "ff_self.1.weight", "ff_self.3.weight"}) {
    const std::string e = end;
    if (name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

TEST(Lora, AdaptedForwardEqualsTheMergedWeights) {
  ddpm::UNetConfig c = ddpm::testing::tiny16_architecture();
  c.num_classes = 3;
  torch::manual_seed(0);
  ddpm::UNet model(c), merged(c);
  const torch::Tensor x = torch::randn({3, c.in_channels, 16, 16});
  const torch::Tensor t = torch::tensor({5, 300, 999});
  const torch::Tensor y = torch::tensor({0, -1, 2});
  const torch::Tensor base = model->forward(x, t, y).detach();
  at::Generator gen = at::detail::createCPUGenerator(1);
  {
    ddpm::LoraAdapter lora(model, 4, gen);
    EXPECT_TRUE(torch::equal(model->forward(x, t, y), base)) << "up starts at zero";
    // Every 3x3 convolution (two per DoubleConv) and four projections per attention block.
    int adapted = 0;
    for (const auto& p : model->named_parameters()) adapted += adapted_weight(p.key());
    ASSERT_EQ(lora.named_parameters().size(), 2u * adapted);
    {
      torch::NoGradGuard no_grad;
      for (auto& [name, p] : lora.named_parameters()) {
        if (name.find("lora_up") != std::string::npos) p.normal_(0, 0.05);
      }
      for (const auto& p : model->named_parameters()) {
        merged->named_parameters()[p.key()].copy_(lora.effective(p.key(), p.value()));
      }
    }
    const torch::Tensor adapted_out = model->forward(x, t, y);
    EXPECT_GT((adapted_out - base).abs().max().item<double>(), 1e-2);
    EXPECT_TRUE(torch::allclose(adapted_out, merged->forward(x, t, y), 1e-4, 1e-4));
    EXPECT_TRUE(torch::allclose(model->forward(x, t, y, true), merged->forward(x, t, y, true), 1e-4, 1e-4));
    {  // inference takes oneDNN's convolution on the CPU: the delta is added there too
      torch::NoGradGuard no_grad;
      EXPECT_TRUE(torch::allclose(model->forward(x, t, y), merged->forward(x, t, y), 1e-4, 1e-4));
    }

    adapted_out.square().mean().backward();
    for (const auto& [name, p] : lora.named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << name;
      EXPECT_GT(p.grad().abs().max().item<double>(), 0) << name;
    }
    for (const auto& p : model->named_parameters()) {
      EXPECT_EQ(p.value().grad().defined(), !adapted_weight(p.key())) << p.key();
    }
  }
  EXPECT_TRUE(torch::equal(model->forward(x, t, y), base)) << "a destroyed adapter detaches";
}

TEST(Lora, RanksAndModelsAreChecked) {
  using ddpm::testing::error_of;
  ddpm::UNet model(ddpm::testing::tiny16_architecture());
  at::Generator gen = at::detail::createCPUGenerator(1);
  EXPECT_NE(error_of([&] { ddpm::LoraAdapter(model, 0, gen); }).find("LoRA rank 0 is invalid"), std::string::npos);
  ddpm::LoraAdapter one(model, 8, gen);
  EXPECT_NE(error_of([&] { ddpm::LoraAdapter(model, 2, gen); }).find("already has a LoRA adapter"), std::string::npos);
  // A rank above a weight's smaller side is cut to it (inc's first conv: 4 * 9 inputs).
  ddpm::UNet other(ddpm::testing::tiny16_architecture());
  ddpm::LoraAdapter wide(other, 200, gen);
  for (const auto& [name, p] : wide.named_parameters()) {
    if (name == "inc.double_conv.0.weight.lora_down") {
      EXPECT_EQ(p.size(0), 16);  // 16 output channels < 36 inputs < 200
    }
  }

  ddpm::TrainOptions o;
  o.assets = DDPM_SOURCE_DIR "/assets/samples";
  o.lora_rank = 4;
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("give the init model"), std::string::npos);
  o.init_model = "base.safetensors";
  o.lora_rank = 257;
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("lora_rank = 257 is invalid"), std::string::npos);
  o.lora_rank = 4;
  o.freeze = true;
  EXPECT_NE(error_of([&] { ddpm::train(o); }).find("either freeze or adapters"), std::string::npos);
}

// The sample folder in a style the base model never saw: colours inverted.
void write_inverted_folder(const fs::path& out) {
  for (const auto& cls : fs::directory_iterator(DDPM_SOURCE_DIR "/assets/samples")) {
    if (!cls.is_directory()) continue;
    fs::create_directories(out / cls.path().filename());
    for (const auto& f : fs::directory_iterator(cls.path())) {
      ddpm::io::Image im = ddpm::io::read_image(f.path().string());
      for (std::size_t i = 0; i < im.pixels.size(); ++i) {
        if (im.channels < 3 || i % im.channels < 3) im.pixels[i] = 255 - im.pixels[i];
      }
      ddpm::io::write_png((out / cls.path().filename() / f.path().filename()).replace_extension(".png").string(), im);
    }
  }
}

// The model's mean noise-prediction error on the folder's images, with fixed noise and steps.
double folder_loss(const std::string& model_file, const std::string& folder) {
  ddpm::Model m = ddpm::load_model(model_file);
  ddpm::DatasetOptions d;
  d.image_size = 16;
  d.pixel_art = true;
  const ddpm::AssetDataset data(folder, d);
  at::Generator gen = at::detail::createCPUGenerator(7);
  torch::NoGradGuard no_grad;
  double sum = 0;
  for (int i = 0; i < 8; ++i) {
    auto [x0, labels] = data.batch_rows(32, 0, 32, gen);
    sum += ddpm::diffusion_loss(m.unet, m.schedule, x0, labels, gen).item<double>() / 8;
  }
  return sum;
}

// A rank-2 LoRA fine-tune of the cached sample model on its images with inverted colours.
ddpm::TrainOptions inverted_fine_tune(const TempDir& d, int64_t steps) {
  ddpm::testing::trained_sample_model();  // cached: the base
  write_inverted_folder(d.path / "inverted");
  ddpm::TrainOptions o;
  o.assets = (d.path / "inverted").string();
  o.init_model = DDPM_TEST_CACHE_DIR "/samples16.safetensors";
  o.pixel_art = true;
  o.lora_rank = 2;
  o.steps = steps;
  o.batch = 16;
  o.lr = 3e-3;
  o.seed = 5;
  return o;
}

bool any_contains(const std::vector<std::string>& messages, const std::string& text) {
  for (const auto& m : messages) {
    if (m.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(Lora, FineTuneLearnsANewStyleWithLowRankChangesAndResumesExactly) {
  TempDir d;
  ddpm::TrainOptions o = inverted_fine_tune(d, 120);
  const std::string base = o.init_model;
  o.ema_decay = 0;  // the file holds the last weights, so each delta is one rank-2 product
  o.out_model = d / "tuned.safetensors";
  std::vector<std::string> messages;
  ddpm::train(o, [&](const ddpm::TrainProgress& p) { if (!p.message.empty()) messages.push_back(p.message); });
  EXPECT_TRUE(any_contains(messages, "LoRA adapters of rank 2"));

  const double before = folder_loss(base, o.assets), after = folder_loss(o.out_model, o.assets);
  std::printf("loss on the inverted folder: base %.4f, after 120 LoRA steps %.4f\n", before, after);
  EXPECT_LT(after, 0.7 * before);

  // An ordinary model file whose adapted weights moved by deltas of rank <= 2.
  const ddpm::Model b = ddpm::load_model(base), t = ddpm::load_model(o.out_model);
  const auto bw = ddpm::state_dict(*b.unet), tw = ddpm::state_dict(*t.unet);
  ASSERT_EQ(bw.size(), tw.size());
  int checked = 0;
  for (const auto& [name, w] : tw) {
    if (!adapted_weight(name)) continue;
    const torch::Tensor delta = (w - bw.at(name)).flatten(1).to(torch::kFloat64);
    const torch::Tensor s = torch::linalg::svdvals(delta, c10::nullopt);
    ASSERT_GT(s[0].item<double>(), 1e-6) << name << " did not move";
    if (s.size(0) > 2) EXPECT_LT(s[2].item<double>(), 1e-4 * s[0].item<double>()) << name;
    ++checked;
  }
  EXPECT_GT(checked, 10);

  // Cancelled after 3 of 6 steps and resumed: the same losses as one run.
  o.steps = 6;
  o.out_model.clear();
  std::vector<double> straight, parts;
  ddpm::train(o, [&](const ddpm::TrainProgress& p) { if (p.message.empty()) straight.push_back(p.loss); });
  o.checkpoint = d / "run.ckpt";
  std::atomic<bool> cancel{false};
  ddpm::train(o, [&](const ddpm::TrainProgress& p) {
    if (!p.message.empty()) return;
    parts.push_back(p.loss);
    if (p.step == 3) cancel = true;
  }, &cancel);
  ddpm::train(o, [&](const ddpm::TrainProgress& p) { if (p.message.empty()) parts.push_back(p.loss); });
  ASSERT_EQ(parts.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(parts[i], straight[i]) << "step " << i + 1;
  o.lora_rank = 3;  // another setting cannot resume it
  EXPECT_NE(ddpm::testing::error_of([&] { ddpm::train(o); }).find("of a run with LoRA rank 2"), std::string::npos);
  EXPECT_EQ(ddpm::training_checkpoint_lora_rank(o.checkpoint), 2);
  o.lora_rank = -1;  // the automatic choice (every weight for a new run) resumes the adapters
  o.steps = 7;
  messages.clear();
  const ddpm::TrainResult more =
      ddpm::train(o, [&](const ddpm::TrainProgress& p) { if (!p.message.empty()) messages.push_back(p.message); });
  EXPECT_EQ(more.steps_done, 7);
  EXPECT_TRUE(any_contains(messages, "LoRA adapters of rank 2"));
}

TEST(Lora, Bf16FineTuneFollowsFloat32OrIsRefusedByName) {
  TempDir d;
  ddpm::TrainOptions o = inverted_fine_tune(d, 30);
  EXPECT_EQ(ddpm::resolved(o).bf16, ddpm::bf16_native() ? 1 : 0) << "auto: bf16 for fine-tunes where native";
  if (!ddpm::bf16_native()) {
    o.bf16 = 1;
    EXPECT_NE(ddpm::testing::error_of([&] { ddpm::train(o); }).find("AVX512-BF16"), std::string::npos);
    return;
  }
  const auto run = [&](int bf16, std::vector<std::string>* messages) {
    o.bf16 = bf16;
    std::vector<double> losses;
    ddpm::train(o, [&](const ddpm::TrainProgress& p) {
      if (p.message.empty()) losses.push_back(p.loss);
      else if (messages) messages->push_back(p.message);
    });
    EXPECT_FALSE(at::autocast::is_cpu_enabled()) << "autocast must end with the run";
    return losses;
  };
  std::vector<std::string> messages;
  const std::vector<double> f32 = run(0, nullptr), bf16 = run(1, &messages);
  EXPECT_TRUE(any_contains(messages, "bf16 mixed precision"));
  ASSERT_EQ(f32.size(), bf16.size());
  // The same batches and noise: each step's loss within a few percent, but not bit for bit.
  double worst = 0;
  bool differs = false;
  for (std::size_t i = 0; i < f32.size(); ++i) {
    worst = std::max(worst, std::abs(bf16[i] - f32[i]) / f32[i]);
    differs = differs || bf16[i] != f32[i];
  }
  std::printf("30 LoRA steps, bf16 against float32: worst relative loss difference %.4f\n", worst);
  EXPECT_TRUE(differs) << "the convolutions did not run in bfloat16";
  EXPECT_LT(worst, 0.05);
}

}  // namespace
