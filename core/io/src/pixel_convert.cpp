#include "ddpm/io/pixel_convert.h"

#include <cmath>

#include "ddpm/io/error.h"

namespace ddpm::io {

Image convert_channels(const Image& src, int channels, const std::array<std::uint8_t, 3>& bg) {
  if (channels != 1 && channels != 3 && channels != 4) {
    throw Error("model channel count " + std::to_string(channels) + " is invalid: allowed 1, 3, 4");
  }
  const Image rgba = to_rgba(src);
  if (channels == 4) return rgba;
  Image out(src.width, src.height, channels);
  const std::size_t n = std::size_t(src.width) * src.height;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = rgba.pixels.data() + i * 4;
    const double a = p[3] / 255.0;
    double rgb[3];
    for (int c = 0; c < 3; ++c) rgb[c] = p[c] * a + bg[c] * (1 - a);
    std::uint8_t* d = out.pixels.data() + i * channels;
    if (channels == 3) {
      for (int c = 0; c < 3; ++c) d[c] = static_cast<std::uint8_t>(std::lround(rgb[c]));
    } else {
      d[0] = static_cast<std::uint8_t>(std::lround(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]));
    }
  }
  return out;
}

}  // namespace ddpm::io
