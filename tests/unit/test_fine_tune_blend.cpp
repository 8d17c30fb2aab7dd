// A fine-tune blended with its base (ddpm/fine_tune_blend.h): base + strength * (tuned -
// base) over every shared weight, new class rows kept, refused by name where the models do not
// belong together; and train()'s strength option, which writes that blend of its own result.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "ddpm/distill.h"
#include "ddpm/fine_tune_blend.h"
#include "ddpm/model_file.h"
#include "ddpm/trainer.h"
#include "ddpm/training_checkpoint.h"
#include "error_of.h"
#include "temp_dir.h"
#include "random_model.h"
#include "trained_model.h"

namespace {

using ddpm::testing::error_of;
using ddpm::testing::random_model;
using ddpm::testing::TempDir;
using ddpm::testing::tiny_info;

const std::string kAssets = DDPM_SOURCE_DIR "/assets/samples";

// Every weight of `got` is base + strength * (tuned - base) to float rounding.
void expect_blend(const ddpm::Model& got, const ddpm::Model& base, const ddpm::Model& tuned, double strength) {
  const auto b = ddpm::state_dict(*base.unet), t = ddpm::state_dict(*tuned.unet);
  int checked = 0;
  for (const auto& [name, w] : ddpm::state_dict(*got.unet)) {
    const torch::Tensor expected = b.at(name) + (t.at(name) - b.at(name)) * strength;
    EXPECT_TRUE(torch::allclose(w, expected, 1e-5, 1e-6)) << name << " at strength " << strength;
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

}  // namespace

TEST(FineTuneBlend, MovesEveryWeightPartWayAndKeepsNewClassRows) {
  const ddpm::Model base = random_model(tiny_info({"a", "b"}), 1);
  const ddpm::Model tuned = random_model(tiny_info({"a", "b", "new"}), 2);  // one class added
  const ddpm::Model out = ddpm::blend_fine_tune(base, tuned, 0.6);
  EXPECT_EQ(out.info.class_names, tuned.info.class_names);
  const auto b = ddpm::state_dict(*base.unet), t = ddpm::state_dict(*tuned.unet);
  int moved = 0;
  for (const auto& [name, w] : ddpm::state_dict(*out.unet)) {
    const int64_t known = b.at(name).size(0);
    const torch::Tensor tw = t.at(name).narrow(0, 0, known);
    EXPECT_TRUE(torch::allclose(w.narrow(0, 0, known), b.at(name) + (tw - b.at(name)) * 0.6, 1e-5, 1e-6)) << name;
    EXPECT_FALSE(torch::allclose(w.narrow(0, 0, known), tw)) << name << " was not moved";
    if (name == "label_emb.weight") EXPECT_TRUE(torch::equal(w[2], t.at(name)[2])) << "the added class's row is the fine-tune's";
    ++moved;
  }
  EXPECT_GT(moved, 20);
  // Strength 1 is the fine-tune; 2 extrapolates as far past it as the base is behind.
  const ddpm::Model same = ddpm::blend_fine_tune(base, base, 1.7);
  for (const auto& [name, w] : ddpm::state_dict(*same.unet)) EXPECT_TRUE(torch::equal(w, b.at(name))) << name;
  const ddpm::Model twice = ddpm::blend_fine_tune(base, random_model(tiny_info({"a", "b"}), 2), 2);
  const auto t2 = ddpm::state_dict(*random_model(tiny_info({"a", "b"}), 2).unet);
  for (const auto& [name, w] : ddpm::state_dict(*twice.unet)) {
    EXPECT_TRUE(torch::allclose(w - t2.at(name), t2.at(name) - b.at(name), 1e-5, 1e-6)) << name;
  }
}

TEST(FineTuneBlend, ModelsThatDoNotBelongTogetherAreRefusedByName) {
  const ddpm::Model base = random_model(tiny_info({"a", "b"}), 1);
  const ddpm::Model renamed = random_model(tiny_info({"b", "a"}), 2);
  EXPECT_NE(error_of([&] { ddpm::blend_fine_tune(base, renamed, 0.5); }).find("do not start with its base's (a, b)"),
            std::string::npos);
  auto wide = tiny_info({"a", "b"});
  wide.unet.base_channels *= 2;
  EXPECT_NE(error_of([&] { ddpm::blend_fine_tune(base, random_model(wide, 4), 0.5); }).find("not one architecture"),
            std::string::npos);
  const ddpm::Model student = random_model(ddpm::student_info(base.info, ddpm::DistillSpec{}), 3);
  EXPECT_NE(error_of([&] { ddpm::blend_fine_tune(student, base, 0.5); }).find("that the fine-tune lacks: not one architecture"),
            std::string::npos);
}

TEST(FineTuneBlend, TrainWritesItsResultBlendedWithItsBase) {
  TempDir dir;
  ddpm::Model base = ddpm::testing::trained_sample_model();
  const std::string base_path = dir / "base.safetensors";
  ddpm::save_model(base_path, base.unet, base.info);
  ddpm::TrainOptions o;
  o.assets = kAssets;
  o.init_model = base_path;
  o.lora_rank = 4;  // through adapters, whose automatic strength blends
  o.steps = 3;
  o.seed = 7;
  o.threads = 1;
  o.strength = 1;
  o.out_model = dir / "tuned.safetensors";
  o.checkpoint = dir / "tuned.checkpoint.pt";
  ddpm::train(o);
  const ddpm::Model tuned = ddpm::load_model(o.out_model);
  std::filesystem::remove(o.checkpoint);
  o.strength = 0.5;
  o.out_model = dir / "half.safetensors";
  ddpm::train(o);
  expect_blend(ddpm::load_model(o.out_model), base, tuned, 0.5);
  // The checkpoint keeps the tuned weights, so a resumed run continues them.
  const auto ema = ddpm::state_dict(*ddpm::load_training_checkpoint(o.checkpoint).ema);
  for (const auto& [name, w] : ddpm::state_dict(*tuned.unet)) EXPECT_TRUE(torch::equal(w, ema.at(name))) << name;

  // The automatic strength: 0.85 for fine-tunes through adapters, 1 for those of every weight
  // (the default) and for new models.
  o.strength = -1;
  EXPECT_EQ(ddpm::resolved(o).strength, 0.85);
  ddpm::TrainOptions every = o;
  every.lora_rank = -1;  // auto: every weight
  EXPECT_EQ(ddpm::resolved(every).strength, 1);
  ddpm::TrainOptions fresh = o;
  fresh.init_model.clear();
  EXPECT_EQ(ddpm::resolved(fresh).strength, 1);
  std::filesystem::remove(o.checkpoint);
  o.out_model = dir / "auto.safetensors";
  ddpm::train(o);
  expect_blend(ddpm::load_model(o.out_model), base, tuned, 0.85);
}

TEST(FineTuneBlend, StrengthIsCheckedByName) {
  ddpm::TrainOptions o;
  o.assets = kAssets;
  o.init_model = "base.safetensors";
  o.out_model = "x.safetensors";
  for (double bad : {0.0, -0.5, 2.5, std::nan("")}) {
    o.strength = bad;
    EXPECT_NE(error_of([&] { o.validate(); }).find("training option strength = "), std::string::npos) << bad;
  }
  o.strength = 0.5;
  EXPECT_NO_THROW(o.validate());
  o.init_model.clear();
  EXPECT_NE(error_of([&] { o.validate(); }).find("blends a fine-tune with its init model"), std::string::npos);
  o.strength = 1;
  EXPECT_NO_THROW(o.validate());
}

TEST(FineTuneBlend, AResumedRunNeedsItsBaseOnlyToBlend) {
  TempDir dir;
  ddpm::Model base = ddpm::testing::trained_sample_model();
  ddpm::TrainOptions o;
  o.assets = kAssets;
  o.init_model = dir / "base.safetensors";
  ddpm::save_model(o.init_model, base.unet, base.info);
  o.lora_rank = 4;
  o.steps = 2;
  o.threads = 1;
  o.checkpoint = dir / "tuned.checkpoint.pt";
  o.out_model = dir / "tuned.safetensors";
  ddpm::train(o);
  std::filesystem::remove(o.init_model);
  o.steps = 3;
  // Blending (the default for fine-tunes through adapters) needs the base: refused before any step.
  const std::string error = error_of([&] { ddpm::train(o); });
  EXPECT_NE(error.find("base.safetensors"), std::string::npos) << error;
  EXPECT_NE(error.find("blends its model with this base at strength 0.85; strength 1 writes the tuned weights alone"),
            std::string::npos) << error;
  EXPECT_EQ(ddpm::load_training_checkpoint(o.checkpoint).info.training_step, 2) << "the checkpoint is untouched";
  o.strength = 1;
  EXPECT_EQ(ddpm::train(o).steps_done, 3);

  // A run that writes over its init model: resumed, it has no base left and says so.
  ddpm::TrainOptions in_place = o;
  in_place.strength = -1;
  in_place.init_model = in_place.out_model = dir / "in_place.safetensors";
  in_place.checkpoint = dir / "in_place.checkpoint.pt";
  in_place.steps = 2;
  ddpm::save_model(in_place.init_model, base.unet, base.info);
  ddpm::train(in_place);
  expect_blend(ddpm::load_model(in_place.out_model), base, [&] {
    ddpm::Model tuned = ddpm::load_model(in_place.out_model);
    tuned.unet = ddpm::load_training_checkpoint(in_place.checkpoint).ema;
    return tuned;
  }(), 0.85);
  in_place.steps = 3;
  std::vector<std::string> said;
  ddpm::train(in_place, [&](const ddpm::TrainProgress& p) { if (!p.message.empty()) said.push_back(p.message); });
  EXPECT_NE(std::find(said.begin(), said.end(),
                      "the model is not blended with " + in_place.init_model +
                          ": this resumed run wrote over its init model, the base it needs"),
            said.end());
  const auto ema = ddpm::state_dict(*ddpm::load_training_checkpoint(in_place.checkpoint).ema);
  for (const auto& [name, w] : ddpm::state_dict(*ddpm::load_model(in_place.out_model).unet)) {
    EXPECT_TRUE(torch::equal(w, ema.at(name))) << name << ": the tuned weights are written";
  }
}
