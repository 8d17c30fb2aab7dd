#pragma once
// An 8-bit image in memory, interleaved channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA),
// rows top to bottom. The currency between the torch-free I/O code and the core.
#include <cstdint>
#include <string>
#include <vector>

namespace ddpm::io {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<std::uint8_t> pixels;  // width * height * channels bytes

  Image() = default;
  Image(int w, int h, int c);  // zero-filled; throws ddpm::Error on a bad size
  std::uint8_t* at(int x, int y) { return pixels.data() + (std::size_t(y) * width + x) * channels; }
  const std::uint8_t* at(int x, int y) const {
    return pixels.data() + (std::size_t(y) * width + x) * channels;
  }
};

// Converts any channel layout to 4-channel RGBA (gray is replicated, missing alpha is 255).
Image to_rgba(const Image& src);

// Lays images out in a grid of `cols` columns with `pad` pixels between cells, over an
// RGBA background. All images must share one size; they are converted to RGBA first.
Image make_grid(const std::vector<Image>& images, int cols, int pad = 2,
                const std::uint8_t background[4] = nullptr);

// Resizes with stb's filtered resampler (or nearest-neighbour, for pixel art). Colour is
// weighted by alpha for 4-channel images so transparent pixels do not bleed into edges.
Image resize(const Image& src, int width, int height, bool nearest = false);

}  // namespace ddpm::io
