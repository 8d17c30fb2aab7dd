#include "ddpm/io/image.h"

#include <algorithm>

#include "ddpm/io/error.h"
#include <stb_image_resize.h>

namespace ddpm::io {

Image::Image(int w, int h, int c) : width(w), height(h), channels(c) {
  if (w <= 0 || h <= 0) {
    throw Error("image size " + std::to_string(w) + "x" + std::to_string(h) +
                " is invalid: width and height must be at least 1");
  }
  if (c < 1 || c > 4) {
    throw Error("image channel count " + std::to_string(c) + " is invalid: allowed 1 to 4");
  }
  pixels.assign(std::size_t(w) * h * c, 0);
}

Image to_rgba(const Image& src) {
  if (src.channels == 4) return src;
  Image out(src.width, src.height, 4);
  const std::size_t n = std::size_t(src.width) * src.height;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* s = src.pixels.data() + i * src.channels;
    std::uint8_t* d = out.pixels.data() + i * 4;
    switch (src.channels) {
      case 1: d[0] = d[1] = d[2] = s[0]; d[3] = 255; break;
      case 2: d[0] = d[1] = d[2] = s[0]; d[3] = s[1]; break;
      default: d[0] = s[0]; d[1] = s[1]; d[2] = s[2]; d[3] = 255; break;
    }
  }
  return out;
}

Image make_grid(const std::vector<Image>& images, int cols, int pad,
                const std::uint8_t background[4]) {
  if (images.empty()) throw Error("cannot make a grid of zero images");
  if (cols < 1) throw Error("grid column count " + std::to_string(cols) + " must be at least 1");
  if (pad < 0) throw Error("grid padding " + std::to_string(pad) + " must not be negative");
  const int w = images[0].width, h = images[0].height;
  for (const Image& im : images) {
    if (im.width != w || im.height != h) {
      throw Error("grid images differ in size: " + std::to_string(im.width) + "x" +
                  std::to_string(im.height) + " vs " + std::to_string(w) + "x" + std::to_string(h));
    }
  }
  cols = std::min<int>(cols, static_cast<int>(images.size()));
  const int rows = (static_cast<int>(images.size()) + cols - 1) / cols;
  Image grid(cols * w + (cols + 1) * pad, rows * h + (rows + 1) * pad, 4);
  const std::uint8_t bg_default[4] = {0, 0, 0, 0};
  const std::uint8_t* bg = background ? background : bg_default;
  for (std::size_t i = 0; i < grid.pixels.size(); i += 4) std::copy(bg, bg + 4, &grid.pixels[i]);
  for (std::size_t k = 0; k < images.size(); ++k) {
    const Image rgba = to_rgba(images[k]);
    const int x0 = pad + static_cast<int>(k % cols) * (w + pad);
    const int y0 = pad + static_cast<int>(k / cols) * (h + pad);
    for (int y = 0; y < h; ++y) {
      std::copy(rgba.at(0, y), rgba.at(0, y) + std::size_t(w) * 4, grid.at(x0, y0 + y));
    }
  }
  return grid;
}

Image resize(const Image& src, int width, int height, bool nearest) {
  Image out(width, height, src.channels);  // validates the size
  if (src.width == width && src.height == height) return src;
  if (nearest) {
    for (int y = 0; y < height; ++y) {
      const int sy = static_cast<int>((static_cast<long long>(y) * src.height) / height);
      for (int x = 0; x < width; ++x) {
        const int sx = static_cast<int>((static_cast<long long>(x) * src.width) / width);
        std::copy(src.at(sx, sy), src.at(sx, sy) + src.channels, out.at(x, y));
      }
    }
    return out;
  }
  const int alpha = src.channels == 4 ? 3 : (src.channels == 2 ? 1 : STBIR_ALPHA_CHANNEL_NONE);
  const int ok = stbir_resize_uint8_generic(
      src.pixels.data(), src.width, src.height, 0, out.pixels.data(), width, height, 0,
      src.channels, alpha, 0, STBIR_EDGE_CLAMP, STBIR_FILTER_DEFAULT, STBIR_COLORSPACE_LINEAR,
      nullptr);
  if (!ok) throw Error("image resize to " + std::to_string(width) + "x" + std::to_string(height) + " failed");
  return out;
}

}  // namespace ddpm::io
