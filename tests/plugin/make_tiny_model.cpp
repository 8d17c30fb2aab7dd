// Writes a tiny, untrained model file for the plugin tests:
//   make_tiny_model OUT.safetensors [DISTILLED_STEPS]
// With DISTILLED_STEPS, the description of a distilled student (guidance 1 to 5 as an input).
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "ddpm/distill.h"
#include "ddpm/model_file.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: %s OUT.safetensors [DISTILLED_STEPS]\n", argv[0]);
    return 2;
  }
  try {
    torch::manual_seed(1);
    ddpm::io::ModelInfo info;
    info.unet = ddpm::preset_sprite32(3);
    info.unet.preset = "custom";
    info.unet.image_size = 16;
    info.unet.base_channels = 8;
    info.unet.channel_mult = {1, 2};
    info.unet.attention_resolutions = {8};
    info.unet.time_dim = 16;
    info.class_names = {"red", "green", "blue"};
    info.schedule.timesteps = 100;
    if (argc == 3) info = ddpm::student_info(info, ddpm::DistillSpec{std::atoi(argv[2]), 2, 1.0f, 5.0f});
    ddpm::Model model = ddpm::make_model(info);
    ddpm::save_model(argv[1], model.unet, info);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_tiny_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
