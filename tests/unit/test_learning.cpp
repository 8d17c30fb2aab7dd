// A tiny model overfits a handful of real images from assets/samples: the loss falls by 10x
// and its samples are nearer the training images than held-out real images of the same
// classes are.
#include <gtest/gtest.h>

#include "ddpm/io/asset_folder.h"
#include "ddpm/loss.h"
#include "ddpm/runtime.h"
#include "ddpm/sampler.h"
#include "ddpm/tensor_image.h"

namespace {

// Mean over rows of `a` of the smallest mean squared distance to any row of `b`.
double mean_nearest_distance(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor fa = a.flatten(1), fb = b.flatten(1);
  const torch::Tensor d = (fa.unsqueeze(1) - fb.unsqueeze(0)).pow(2).mean(-1);  // [A, B]
  return std::get<0>(d.min(1)).mean().item<double>();
}

TEST(Learning, TinyModelOverfitsRealImages) {
  ddpm::init_runtime();
  ddpm::io::AssetFolderOptions lo;
  lo.size = 16;
  const auto folder = ddpm::io::load_asset_folder(DDPM_SOURCE_DIR "/assets/samples", lo);
  ASSERT_EQ(folder.class_names.size(), 3u);
  ASSERT_TRUE(folder.skipped.empty());

  // Two training images per class; ten held-out images per class for the baseline.
  std::vector<ddpm::io::Image> train, held;
  std::vector<int64_t> train_labels;
  std::vector<int> seen(3, 0);
  for (std::size_t i = 0; i < folder.images.size(); ++i) {
    const int c = folder.labels[i];
    if (seen[c] < 2) {
      train.push_back(folder.images[i]);
      train_labels.push_back(c);
    } else if (seen[c] >= 10) {
      held.push_back(folder.images[i]);
    }
    ++seen[c];
  }
  const torch::Tensor x = ddpm::from_images(train, 4);
  const torch::Tensor y = torch::tensor(train_labels);
  const torch::Tensor held_x = ddpm::from_images(held, 4);

  ddpm::UNetConfig c = ddpm::preset_sprite32(3);
  c.image_size = 16;
  c.base_channels = 16;
  c.channel_mult = {1, 2, 2};
  c.attention_resolutions = {4};
  c.time_dim = 64;
  torch::manual_seed(3);
  ddpm::UNet model(c);
  const auto schedule = ddpm::make_schedule();
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(2e-3).weight_decay(0));
  auto gen = at::detail::createCPUGenerator(5);
  const int steps = 1200, batch = 32;
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    // Constant, then a linear decay over the second half: the last steps refine the details
    // that the low-noise timesteps need.
    const double lr = 2e-3 * std::min(1.0, 2.0 * (1.0 - double(s) / steps));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    const torch::Tensor idx = torch::randint(x.size(0), {batch}, gen, torch::kLong);
    const torch::Tensor loss =
        ddpm::diffusion_loss(model, schedule, x.index_select(0, idx), y.index_select(0, idx), gen);
    opt.zero_grad();
    loss.backward();
    opt.step();
    losses.push_back(loss.item<double>());
  }
  const auto mean_of = [&](int from, int to) {
    double m = 0;
    for (int i = from; i < to; ++i) m += losses[i];
    return m / (to - from);
  };
  const double first = mean_of(0, 10), last = mean_of(steps - 100, steps);
  std::printf("loss: first 10 steps %.4f, last 100 steps %.4f (%.1fx)\n", first, last, first / last);
  EXPECT_GT(first / last, 10.0);

  ddpm::SampleOptions o;
  o.batch = 6;
  o.classes = {0, 0, 1, 1, 2, 2};
  o.guidance = 1.0f;  // conditional only: this run never drops labels
  o.steps = 100;
  o.clip_x0 = true;
  o.seed = 9;
  const torch::Tensor samples = ddpm::sample(model, schedule, o).images.clamp(-1, 1);
  const double d_samples = mean_nearest_distance(samples, x);
  const double d_held = mean_nearest_distance(held_x, x);
  std::printf("nearest-training-image MSE: samples %.4f, held-out real images %.4f\n", d_samples,
              d_held);
  EXPECT_LT(d_samples, 0.5 * d_held);
}

}  // namespace
