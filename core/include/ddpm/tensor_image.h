#pragma once
// Conversion between model tensors ([-1, 1] floats, [B, C, H, W]) and 8-bit images.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "ddpm/io/image.h"

namespace ddpm {

// One image per batch entry with the tensor's channel count; values are clamped to [-1, 1]
// and mapped to 0..255 with rounding.
std::vector<io::Image> to_images(const torch::Tensor& x);

// [1, channels, H, W] in [-1, 1]. The image's layout is converted to `channels`:
// 1 takes the luminance, 3 drops alpha, 4 adds an opaque alpha where there was none.
torch::Tensor from_image(const io::Image& image, int channels);

// [N, channels, H, W]: from_image over a list of same-sized images.
torch::Tensor from_images(const std::vector<io::Image>& images, int channels);

// Writes the batch as a PNG grid (RGBA, transparent padding), atomically.
void save_grid_png(const std::string& path, const torch::Tensor& x, int cols = 0);

}  // namespace ddpm
