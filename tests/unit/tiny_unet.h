#pragma once
// A UNet of a few thousand weights (8x8 images, attention at 4x4) for tests of the mechanics
// around the network: samplers, split steps. Drawn from `seed`, so each test keeps its numbers.
#include <torch/torch.h>

#include "ddpm/unet.h"

namespace ddpm::testing {

// `guidance_input`: a guidance-distilled student's network (the scale as an input).
inline UNet tiny_unet(int classes, uint64_t seed, bool guidance_input = false) {
  UNetConfig c;
  c.in_channels = c.out_channels = 4;
  c.image_size = 8;
  c.base_channels = 8;
  c.channel_mult = {1, 2};
  c.attention_resolutions = {4};
  c.time_dim = 16;
  c.num_classes = classes;
  c.guidance_input = guidance_input;
  torch::manual_seed(seed);
  return UNet(c);
}

}  // namespace ddpm::testing
