// Training checkpoints resume exactly: the same losses after a save and load as without it.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <vector>

#include "ddpm/io/error.h"
#include "ddpm/loss.h"
#include "ddpm/model_file.h"
#include "ddpm/training_checkpoint.h"

namespace fs = std::filesystem;

namespace {

ddpm::io::ModelInfo tiny_info() {
  ddpm::io::ModelInfo info;
  info.unet = ddpm::preset_sprite32(2);
  info.unet.image_size = 8;
  info.unet.base_channels = 8;
  info.unet.channel_mult = {1, 2};
  info.unet.attention_resolutions = {4};
  info.unet.time_dim = 16;
  info.class_names = {"a", "b"};
  return info;
}

// A few steps of training on fixed data, drawing everything from the state's generator.
std::vector<double> train(ddpm::TrainingState& s, const ddpm::NoiseSchedule& sched, int steps) {
  const torch::Tensor data = torch::linspace(-1, 1, 4 * 4 * 8 * 8).view({4, 4, 8, 8});
  const torch::Tensor labels = torch::tensor({0, 1, 0, 1});
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) {
    const torch::Tensor loss = ddpm::diffusion_loss(s.model, sched, data, labels, s.generator);
    s.optimizer->zero_grad();
    loss.backward();
    s.optimizer->step();
    losses.push_back(loss.item<double>());
    ++s.info.training_step;
  }
  return losses;
}

TEST(TrainingCheckpoint, ResumesWithTheSameLosses) {
  const fs::path p = fs::temp_directory_path() / ("ddpm_ckpt_" + std::to_string(::getpid()) + ".safetensors");
  const auto sched = ddpm::make_schedule();
  torch::manual_seed(5);
  ddpm::TrainingState straight = ddpm::make_training_state(tiny_info(), torch::optim::AdamWOptions(1e-3), 7);
  torch::manual_seed(5);
  ddpm::TrainingState resumed = ddpm::make_training_state(tiny_info(), torch::optim::AdamWOptions(1e-3), 7);

  const auto all = train(straight, sched, 6);
  const auto first = train(resumed, sched, 3);
  resumed.trainer_json = R"({"batch": 4})";
  ddpm::save_training_checkpoint(p.string(), resumed);
  ddpm::TrainingState loaded = ddpm::load_training_checkpoint(p.string());
  EXPECT_EQ(loaded.info.training_step, 3);
  EXPECT_EQ(loaded.trainer_json, R"({"batch": 4})");
  EXPECT_FALSE(ddpm::training_checkpoint_lora_rank(p.string()).has_value()) << "a run of every weight";
  const auto rest = train(loaded, sched, 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(first[i], all[i]);
    EXPECT_EQ(rest[i], all[3 + i]) << "step " << 3 + i;
  }
  // A model file is not a training checkpoint, and says so.
  ddpm::save_model(p.string(), loaded.ema, loaded.info);
  for (const auto& read : std::vector<std::function<void()>>{[&] { ddpm::load_training_checkpoint(p.string()); },
                                                            [&] { ddpm::training_checkpoint_lora_rank(p.string()); }}) {
    try {
      read();
      FAIL();
    } catch (const ddpm::Error& e) {
      EXPECT_NE(std::string(e.what()).find("not a training checkpoint"), std::string::npos) << e.what();
    }
  }
  fs::remove(p);
}

}  // namespace
