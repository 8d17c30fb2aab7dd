// The training recipe's options: min-SNR-gamma loss weights against their closed form and a
// hand computation of the weighted loss, the EMA warm-up's decay schedule, and the sprite32v2
// block style (GroupNorm groups, scale-shift conditioning) through the UNet and model files.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "ddpm/diffusion.h"
#include "ddpm/io/error.h"
#include "ddpm/io/model_info.h"
#include "ddpm/loss.h"
#include "ddpm/model_file.h"
#include "ddpm/precision.h"
#include "ddpm/trainer.h"
#include "error_of.h"
#include "unet_blocks.h"

namespace {

ddpm::UNetConfig tiny(bool v2) {
  ddpm::UNetConfig c = v2 ? ddpm::preset_sprite32v2(3) : ddpm::preset_sprite32(3);
  c.image_size = 16;
  c.base_channels = 16;
  c.channel_mult = {1, 2};
  c.time_dim = 16;
  return c;
}

TEST(Recipe, MinSnrWeightsMatchTheirClosedForm) {
  const ddpm::NoiseSchedule s = ddpm::make_schedule();
  const torch::Tensor w = ddpm::min_snr_weights(s, 5.0);
  ASSERT_EQ(w.size(0), s.timesteps());
  const auto ab = s.alpha_bars.to(torch::kFloat64);
  for (int64_t t : {0, 10, 100, 300, 999}) {
    const double a = ab[t].item<double>(), snr = a / (1 - a);
    EXPECT_NEAR(w[t].item<double>(), std::min(snr, 5.0) / snr, 1e-6) << "t " << t;
  }
  // Low noise (high SNR) is weighted down, high noise keeps weight 1.
  EXPECT_LT(w[0].item<double>(), 1e-3);
  EXPECT_EQ(w[999].item<double>(), 1.0);
  EXPECT_TRUE((w.narrow(0, 1, 999) >= w.narrow(0, 0, 999)).all().item<bool>());
}

TEST(Recipe, WeightedLossEqualsTheHandComputationWithTheSameDraws) {
  torch::manual_seed(0);
  const ddpm::NoiseSchedule s = ddpm::make_schedule();
  ddpm::UNet model(tiny(false));
  const torch::Tensor x0 = torch::rand({6, 4, 16, 16}) * 2 - 1;
  const torch::Tensor y = torch::tensor({0, 1, 2, -1, 0, 1});
  auto g1 = at::detail::createCPUGenerator(7), g2 = at::detail::createCPUGenerator(7),
       g3 = at::detail::createCPUGenerator(7);
  torch::NoGradGuard no_grad;
  const double weighted = ddpm::diffusion_loss(model, s, x0, y, g1, 5.0).item<double>();
  // The loss's draws, made by hand in the same order: t, then the noise.
  const torch::Tensor t = torch::randint(s.timesteps(), {6}, g2, torch::kLong);
  const torch::Tensor eps = torch::randn(x0.sizes(), g2, torch::kFloat32);
  const torch::Tensor per = (model->forward(ddpm::q_sample(s, x0, t, eps), t, y) - eps).pow(2).mean({1, 2, 3});
  const torch::Tensor w = ddpm::min_snr_weights(s, 5.0).index_select(0, t);
  EXPECT_NEAR(weighted, (per * w).mean().item<double>(), 1e-6);
  // A gamma above every SNR weighs nothing: the plain MSE of the same draws.
  EXPECT_NEAR(ddpm::diffusion_loss(model, s, x0, y, g3, 1e6).item<double>(), per.mean().item<double>(), 1e-6);
}

TEST(Recipe, EmaWarmupRisesToTheDecay) {
  ddpm::TrainOptions o;
  o.ema_decay = 0.999;
  o.ema_start = 10;
  EXPECT_EQ(ddpm::ema_decay_at(o, 10), 0.0);  // a copy up to ema_start
  EXPECT_EQ(ddpm::ema_decay_at(o, 11), 0.999);
  o.ema_warmup = true;
  EXPECT_EQ(ddpm::ema_decay_at(o, 5), 0.0);
  EXPECT_DOUBLE_EQ(ddpm::ema_decay_at(o, 11), 2.0 / 11);     // n = 1
  EXPECT_DOUBLE_EQ(ddpm::ema_decay_at(o, 110), 101.0 / 110);  // n = 100
  EXPECT_EQ(ddpm::ema_decay_at(o, 100000), 0.999);            // capped
}

TEST(Recipe, AutoEmaStartFitsShortRuns) {
  ddpm::TrainOptions o;  // ema_start -1: auto
  EXPECT_EQ(ddpm::resolved(o).ema_start, 2000);  // a new model trained for `steps`: the reference's
  EXPECT_FALSE(ddpm::resolved(o).ema_warmup);
  o.init_model = "base.safetensors";  // a fine-tune averages from its first step
  EXPECT_EQ(ddpm::resolved(o).ema_start, 0);
  EXPECT_TRUE(ddpm::resolved(o).ema_warmup);
  EXPECT_DOUBLE_EQ(ddpm::ema_decay_at(o, 1), 2.0 / 11);
  o.init_model.clear();
  o.minutes = 5;  // so does a time budget
  EXPECT_EQ(ddpm::resolved(o).ema_start, 0);
  EXPECT_TRUE(ddpm::resolved(o).ema_warmup);
  o.ema_start = 300;  // a value given is kept
  EXPECT_EQ(ddpm::resolved(o).ema_start, 300);
  EXPECT_FALSE(ddpm::resolved(o).ema_warmup);
  o.ema_start = -2;
  o.assets = "x";
  EXPECT_THROW(o.validate(), ddpm::Error);
  o.ema_start = -1;
  o.minutes = -1;
  EXPECT_THROW(o.validate(), ddpm::Error);
}

TEST(Recipe, AutoWarmupProtectsFineTunes) {
  ddpm::TrainOptions o;  // warmup -1: auto
  o.steps = 1000;
  EXPECT_EQ(ddpm::resolved(o).warmup, 0);  // a new model: the reference's constant start
  o.init_model = "base.safetensors";
  EXPECT_EQ(ddpm::resolved(o).warmup, 50);
  o.steps = 40;  // a short fine-tune still reaches its learning rate
  EXPECT_EQ(ddpm::resolved(o).warmup, 10);
  o.init_model.clear();
  o.minutes = 2;
  EXPECT_EQ(ddpm::resolved(o).warmup, 50);
  o.warmup = 7;  // a value given is kept
  EXPECT_EQ(ddpm::resolved(o).warmup, 7);
  o.warmup = -2;
  o.assets = "x";
  EXPECT_THROW(o.validate(), ddpm::Error);
}

TEST(Recipe, ScaleShiftConditioningMultipliesAndAdds) {
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  ddpm::DownImpl plain(8, 16, 4, {8, false}), film(8, 16, 4, {8, true});
  // The same convolutions in both; the embedding layer differs in width only.
  auto pp = plain.named_parameters(), fp = film.named_parameters();
  for (const auto& p : pp) {
    if (p.key().rfind("emb_layer", 0) != 0) fp[p.key()].copy_(p.value());
  }
  ASSERT_EQ(fp["emb_layer.1.weight"].size(0), 32);
  const torch::Tensor x = torch::randn({2, 8, 8, 8}), emb = torch::randn({2, 4});
  pp["emb_layer.1.weight"].zero_();
  pp["emb_layer.1.bias"].zero_();
  const torch::Tensor h = plain.forward(x, emb, false);  // the block without any embedding
  fp["emb_layer.1.weight"].zero_();
  torch::Tensor bias = fp["emb_layer.1.bias"];
  bias.narrow(0, 0, 16).fill_(0.5);   // scale
  bias.narrow(0, 16, 16).fill_(-2);   // shift
  EXPECT_TRUE(torch::allclose(film.forward(x, emb, false), h * 1.5 - 2, 1e-5, 1e-5));
}

TEST(Recipe, Sprite32v2UsesGroupsAndRoundTripsThroughModelFiles) {
  ddpm::UNet v2(tiny(true));
  int groups_seen = 0;
  for (const auto& m : v2->modules(false)) {
    if (const auto* gn = dynamic_cast<const torch::nn::GroupNormImpl*>(m.get())) {
      EXPECT_EQ(gn->options.num_groups(), 8) << gn->options.num_channels();
      ++groups_seen;
    }
  }
  EXPECT_GT(groups_seen, 10);
  ddpm::UNet ref(tiny(false));
  EXPECT_GT(v2->parameter_count(), ref->parameter_count());  // the wider embedding layers

  ddpm::io::ModelInfo info;
  info.unet = tiny(true);
  info.class_names = {"a", "b", "c"};
  const auto dir = std::filesystem::temp_directory_path() / ("ddpm_recipe_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "v2.safetensors").string();
  ddpm::save_model(file, v2, info);
  ddpm::Model back = ddpm::load_model(file);
  EXPECT_EQ(back.info.unet.preset, "sprite32v2");
  EXPECT_EQ(back.info.unet.norm_groups, 8);
  EXPECT_TRUE(back.info.unet.scale_shift);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 4, 16, 16});
  EXPECT_TRUE(torch::equal(back.unet->forward(x, torch::tensor({3, 500}), torch::tensor({1, -1})),
                           v2->forward(x, torch::tensor({3, 500}), torch::tensor({1, -1}))));
  std::filesystem::remove_all(dir);

  // A description written before these fields existed reads as the reference's style; a
  // wrong type is named.
  std::string json = ddpm::io::to_json(info);
  const auto cut = [&](const std::string& key) {
    const auto at = json.find("\"" + key + "\"");
    ASSERT_NE(at, std::string::npos);
    const auto end = json.find_first_of(",}", at);
    json.erase(at, end - at + (json[end] == ',' ? 1 : 0));
  };
  cut("scale_shift");
  cut("norm_groups");
  const ddpm::io::ModelInfo old = ddpm::io::model_info_from_json(json, "old.safetensors");
  EXPECT_EQ(old.unet.norm_groups, 1);
  EXPECT_FALSE(old.unet.scale_shift);
  EXPECT_EQ(old.prediction, "eps");
  EXPECT_EQ(old.snr_gamma, 0.0);
  std::string bad = ddpm::io::to_json(info);
  bad.replace(bad.find("\"scale_shift\": true"), 19, "\"scale_shift\": 1");
  EXPECT_NE(ddpm::testing::error_of([&] { ddpm::io::model_info_from_json(bad, "bad.safetensors"); })
                .find("unet.scale_shift"),
            std::string::npos);
  // The training description: kept, and a parameterisation this build cannot sample refused.
  info.snr_gamma = 5;
  EXPECT_EQ(ddpm::io::model_info_from_json(ddpm::io::to_json(info), "m").snr_gamma, 5.0);
  std::string v = ddpm::io::to_json(info);
  v.replace(v.find("\"prediction\": \"eps\""), 19, "\"prediction\": \"v\"");
  EXPECT_NE(ddpm::testing::error_of([&] { ddpm::io::model_info_from_json(v, "v.safetensors"); })
                .find("'prediction' = 'v' is not supported"),
            std::string::npos);
}

}  // namespace

TEST(Recipe, AutoValuesFollowTheKindOfRun) {
  ddpm::TrainOptions o;  // batch 0, lr 0, decay_from -1, grad_clip -1: auto
  ddpm::TrainOptions r = ddpm::resolved(o);  // a new model: the reference's recipe
  EXPECT_EQ(r.batch, 16);
  EXPECT_DOUBLE_EQ(r.lr, 3e-4);
  EXPECT_EQ(r.decay_from, 1.0);
  EXPECT_EQ(r.grad_clip, 0.0);
  EXPECT_EQ(r.lora_rank, 0);
  EXPECT_EQ(r.random_crop, 1);  // the reference's crops
  EXPECT_EQ(r.bf16, ddpm::bf16_native() ? 1 : 0);  // mixed precision where the CPU has it
  o.init_model = "base.safetensors";  // a fine-tune: of every weight by default
  r = ddpm::resolved(o);
  EXPECT_EQ(r.batch, 32);
  EXPECT_DOUBLE_EQ(r.lr, 5e-4);
  EXPECT_EQ(r.decay_from, 0.5);
  EXPECT_EQ(r.grad_clip, 1.0);
  EXPECT_EQ(r.lora_rank, 0);
  EXPECT_EQ(r.random_crop, 0);  // whole images: a short run's samples copy the crops' zoom
  EXPECT_EQ(r.bf16, ddpm::bf16_native() ? 1 : 0);
  o.lora_rank = 16;  // adapters, asked for: they move slower per step at one rate
  r = ddpm::resolved(o);
  EXPECT_EQ(r.lora_rank, 16);
  EXPECT_DOUBLE_EQ(r.lr, 2e-3);
  o.lora_rank = -1;
  o.distributed.world_size = 2;  // data-parallel runs match one process in float32
  EXPECT_EQ(ddpm::resolved(o).bf16, 0);
  o.distributed.world_size = 1;
  o.distill = true;  // a student fits an exact target from its teacher: a low rate
  r = ddpm::resolved(o);
  EXPECT_DOUBLE_EQ(r.lr, 5e-5);
  EXPECT_EQ(r.batch, 32);        // the shipped student's recipe: a fine-tune's batch,
  EXPECT_EQ(r.random_crop, 0);   // and whole images
  EXPECT_EQ(r.decay_from, 1.0);
  EXPECT_EQ(r.bf16, ddpm::bf16_native() ? 1 : 0);  // a bf16 student scored as the float32 one
  o.distill = false;
  o.random_crop = 1;  // asked for
  EXPECT_EQ(ddpm::resolved(o).random_crop, 1);
  o.random_crop = 2;
  o.assets = "folder";
  EXPECT_NE(ddpm::testing::error_of([&] { o.validate(); }).find("random_crop = 2 is invalid"), std::string::npos);
  o.random_crop = -1;
  o.bf16 = 2;
  EXPECT_NE(ddpm::testing::error_of([&] { o.validate(); }).find("bf16 = 2 is invalid"), std::string::npos);
  o.bf16 = -1;
  o.batch = 8;  // values given are kept
  o.lr = 1e-4;
  o.decay_from = 0.8;
  o.grad_clip = 0;
  r = ddpm::resolved(o);
  EXPECT_EQ(r.batch, 8);
  EXPECT_DOUBLE_EQ(r.lr, 1e-4);
  EXPECT_EQ(r.decay_from, 0.8);
  EXPECT_EQ(r.grad_clip, 0.0);
  o.assets = "x";
  EXPECT_NO_THROW(o.validate());
  for (const auto& bad : std::vector<std::function<void(ddpm::TrainOptions&)>>{
           [](ddpm::TrainOptions& b) { b.batch = -1; }, [](ddpm::TrainOptions& b) { b.lr = -1e-3; },
           [](ddpm::TrainOptions& b) { b.decay_from = -0.5; }, [](ddpm::TrainOptions& b) { b.grad_clip = -2; }}) {
    ddpm::TrainOptions b = o;
    bad(b);
    EXPECT_THROW(b.validate(), ddpm::Error);
  }
}
