#include "trained_model.h"

#include <filesystem>

#include "ddpm/io/asset_folder.h"
#include "ddpm/runtime.h"
#include "ddpm/tensor_image.h"
#include "ddpm/trainer.h"

namespace ddpm::testing {

std::pair<torch::Tensor, torch::Tensor> sample_assets_16() {
  io::AssetFolderOptions lo;
  lo.size = 16;
  lo.nearest = true;  // as the trainer's pixel-art fit below
  const auto folder = io::load_asset_folder(DDPM_SOURCE_DIR "/assets/samples", lo);
  return {from_images(folder.images, 4),
          torch::tensor(std::vector<int64_t>(folder.labels.begin(), folder.labels.end()))};
}

UNetConfig tiny16_architecture() {
  UNetConfig c = preset_sprite32(0);
  c.preset = "tiny16";
  c.image_size = 16;
  c.base_channels = 16;
  c.channel_mult = {1, 2, 2};
  c.attention_resolutions = {4};
  c.time_dim = 64;
  return c;
}

Model trained_sample_model() {
  init_runtime();
  const std::string path = DDPM_TEST_CACHE_DIR "/samples16.safetensors";
  if (!std::filesystem::exists(path)) {
    // The project's own trainer, on the committed sample assets (a minute on 2 cores).
    TrainOptions o;
    o.assets = DDPM_SOURCE_DIR "/assets/samples";
    o.architecture = tiny16_architecture();
    o.pixel_art = true;  // a plain fit: the test compares samples with the plain images
    o.steps = 1500;
    o.batch = 32;
    o.lr = 2e-3;
    o.decay_from = 0.5;
    o.seed = 22;
    std::filesystem::create_directories(DDPM_TEST_CACHE_DIR);
    o.out_model = path;
    train(o);
  }
  return load_model(path);
}

}  // namespace ddpm::testing
