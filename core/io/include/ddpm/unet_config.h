#pragma once
// The numbers that describe a UNet, with its named presets. Torch-free, so the plugin's
// headers, the model-file metadata and the tools can use it without LibTorch.
#include <string>
#include <vector>

namespace ddpm {

struct UNetConfig {
  std::string preset = "custom";
  int in_channels = 3;   // 1 gray, 3 RGB, 4 RGBA
  int out_channels = 3;  // noise prediction has the image's channels
  int image_size = 64;   // square images; a multiple of 2^levels()
  int base_channels = 64;
  // Width of each level as a multiple of base_channels: entry 0 is the full-resolution level
  // (the input convolution), each further entry is one Down block (half the resolution).
  std::vector<int> channel_mult = {1, 2, 4, 4};
  // Resolutions (in pixels) at which a self-attention block follows a Down or an Up block.
  std::vector<int> attention_resolutions = {8, 16, 32, 64};
  int attention_heads = 4;
  int time_dim = 256;   // sinusoidal time encoding width (even)
  int num_classes = 0;  // 0: unconditional (no class embedding)
  // The block style. The reference normalises each feature map as one group and adds the
  // time + class embedding after each Down and Up block; newer UNets (ADM, Dhariwal & Nichol
  // 2021) normalise groups of channels and let the embedding scale and shift the features.
  int norm_groups = 1;       // GroupNorm groups (at most the channel count; the largest
                             // divisor of each layer's width up to this is used)
  bool scale_shift = false;  // the embedding gives (scale, shift): h * (1 + scale) + shift
  // The guidance scale is an input (a guidance-distilled model, core/include/ddpm/distill.h):
  // its encoding goes through one more linear layer into the time + class embedding, so a
  // guided image costs one forward instead of a conditional and an unconditional one.
  bool guidance_input = false;

  int levels() const { return static_cast<int>(channel_mult.size()) - 1; }
  int channels_at(int level) const { return base_channels * channel_mult.at(level); }
  bool conditional() const { return num_classes > 0; }
  bool attention_at(int resolution) const;

  // Throws ddpm::Error naming the first bad field, its value and the allowed range.
  void validate() const;

  // Floating-point operations of one forward pass of `batch` images (multiply-add = 2),
  // counted from the layer shapes: convolutions, linear layers and attention products.
  // Used by the benchmarks to turn times into achieved GFLOP/s.
  double forward_flops(int batch = 1) const;
};

// The reference's UNet_conditional (num_classes > 0) or UNet (num_classes == 0) at 64x64 RGB:
// same layers, parameter names and shapes as its PyTorch state_dict.
UNetConfig preset_seed64(int num_classes = 10);
// A small RGBA model for realtime sampling on a CPU at 32x32.
UNetConfig preset_sprite32(int num_classes = 0);
// sprite32 with GroupNorm(8) and scale-shift conditioning (the recipe issue's winner, NOTES.md).
UNetConfig preset_sprite32v2(int num_classes = 0);
// Looks a preset up by name ("seed64", "sprite32", "sprite32v2"); throws naming the known ones.
UNetConfig preset_by_name(const std::string& name, int num_classes);
std::vector<std::string> preset_names();

}  // namespace ddpm
