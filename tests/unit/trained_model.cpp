#include "trained_model.h"

#include <filesystem>

#include "ddpm/io/asset_folder.h"
#include "ddpm/loss.h"
#include "ddpm/runtime.h"
#include "ddpm/tensor_image.h"

namespace ddpm::testing {

std::pair<torch::Tensor, torch::Tensor> sample_assets_16() {
  io::AssetFolderOptions lo;
  lo.size = 16;
  const auto folder = io::load_asset_folder(DDPM_SOURCE_DIR "/assets/samples", lo);
  return {from_images(folder.images, 4),
          torch::tensor(std::vector<int64_t>(folder.labels.begin(), folder.labels.end()))};
}

Model trained_sample_model() {
  init_runtime();
  const std::string path = DDPM_TEST_CACHE_DIR "/samples16.safetensors";
  if (std::filesystem::exists(path)) return load_model(path);

  const auto [x, y] = sample_assets_16();
  io::ModelInfo info;
  info.unet = preset_sprite32(3);
  info.unet.image_size = 16;
  info.unet.base_channels = 16;
  info.unet.channel_mult = {1, 2, 2};
  info.unet.attention_resolutions = {4};
  info.unet.time_dim = 64;
  info.class_names = {"animals", "smileys", "travel"};
  torch::manual_seed(21);
  Model m = make_model(info);
  m.unet->train();
  torch::optim::AdamW opt(m.unet->parameters(), torch::optim::AdamWOptions(2e-3).weight_decay(0));
  auto gen = at::detail::createCPUGenerator(22);
  const int steps = 1500, batch = 32;
  for (int s = 0; s < steps; ++s) {
    const double lr = 2e-3 * std::min(1.0, 2.0 * (1.0 - double(s) / steps));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    const torch::Tensor idx = torch::randint(x.size(0), {batch}, gen, torch::kLong);
    torch::Tensor labels = y.index_select(0, idx);
    labels = torch::where(torch::rand({batch}, gen) < 0.1, torch::full_like(labels, -1), labels);
    const torch::Tensor loss = diffusion_loss(m.unet, m.schedule, x.index_select(0, idx), labels, gen);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  m.info.training_step = steps;
  std::filesystem::create_directories(DDPM_TEST_CACHE_DIR);
  save_model(path, m.unet, m.info);
  m.unet->eval();
  return m;
}

}  // namespace ddpm::testing
