#pragma once
// Channel-layout conversion for training images: any decoded layout (gray, gray+alpha, RGB,
// RGBA) to the model's channels. Alpha is kept for RGBA models; for RGB and gray models,
// transparent pixels are composited over a chosen background colour.
#include <array>
#include <cstdint>

#include "ddpm/io/image.h"

namespace ddpm::io {

// `channels` is 1, 3 or 4; `background` is RGB.
Image convert_channels(const Image& src, int channels,
                       const std::array<std::uint8_t, 3>& background = {255, 255, 255});

}  // namespace ddpm::io
