#include "frame_grid.h"

#include <algorithm>
#include <cmath>

#include "sprite_sheet.h"

namespace studio {

namespace {
// Channel c of an RGBA pixel from a pixel of `channels` values: gray is repeated, a missing
// alpha is opaque.
float rgba_channel(const float* px, int channels, int c) {
  if (channels == 4) return px[c];
  if (c == 3) return 1.0f;
  return channels == 3 ? px[c] : px[0];
}
}  // namespace

FrameGrid make_frame_grid(const float* frame, int width, int height, int channels, int batch, int cols) {
  FrameGrid g;
  GridLayout& l = g.layout;
  l.batch = batch;
  l.cols = cols > 0 ? std::min(cols, std::max(batch, 1)) : ddpm_host::grid_columns(batch);
  l.rows = (batch + l.cols - 1) / l.cols;
  l.cell_w = width;
  l.cell_h = height;
  l.gap = batch > 1 ? 1 : 0;
  g.rgba.assign(static_cast<size_t>(l.width()) * l.height() * 4, 0.0f);
  for (int i = 0; i < batch; ++i) {
    const float* img = frame + static_cast<size_t>(i) * width * height * channels;
    for (int y = 0; y < height; ++y) {
      float* dst = g.rgba.data() + (static_cast<size_t>(l.cell_y(i) + y) * l.width() + l.cell_x(i)) * 4;
      for (int x = 0; x < width; ++x) {
        const float* px = img + (static_cast<size_t>(y) * width + x) * channels;
        for (int c = 0; c < 4; ++c) dst[x * 4 + c] = rgba_channel(px, channels, c);
      }
    }
  }
  return g;
}

ddpm::io::Image frame_image_rgba8(const float* frame, int width, int height, int channels, int index) {
  ddpm::io::Image im;
  im.width = width;
  im.height = height;
  im.channels = 4;
  im.pixels.resize(static_cast<size_t>(width) * height * 4);
  const float* img = frame + static_cast<size_t>(index) * width * height * channels;
  for (int p = 0; p < width * height; ++p) {
    for (int c = 0; c < 4; ++c) {
      const float v = std::clamp(rgba_channel(img + p * channels, channels, c), 0.0f, 1.0f);
      im.pixels[static_cast<size_t>(p) * 4 + c] = static_cast<uint8_t>(std::lround(v * 255.0f));
    }
  }
  return im;
}

}  // namespace studio
