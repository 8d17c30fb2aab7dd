#pragma once
// A batch of frames (BHWC floats with 1, 3 or 4 channels, as the plugin hands them out) laid
// out as one RGBA float image: a near-square grid with a 1-pixel transparent gap, so the
// checkerboard shows between images. The layout is kept so clicks and tests can find a cell.
#include <cstdint>
#include <vector>

#include "ddpm/io/image.h"

namespace studio {

struct GridLayout {
  int batch = 0, cols = 0, rows = 0;
  int cell_w = 0, cell_h = 0;  // one image
  int gap = 1;
  int width() const { return cols * cell_w + (cols - 1) * gap; }
  int height() const { return rows * cell_h + (rows - 1) * gap; }
  int cell_x(int i) const { return i % cols * (cell_w + gap); }
  int cell_y(int i) const { return i / cols * (cell_h + gap); }
};

struct FrameGrid {
  GridLayout layout;
  std::vector<float> rgba;  // layout.width() x layout.height() x 4
};

// `frame` holds batch x h x w x channels floats. `cols` 0: near-square; else that many columns
// (the Live mode's strip of in-flight images is one row).
FrameGrid make_frame_grid(const float* frame, int width, int height, int channels, int batch, int cols = 0);

// One image of a batch (BHWC floats) as 8-bit RGBA, for exporting.
ddpm::io::Image frame_image_rgba8(const float* frame, int width, int height, int channels, int index);

}  // namespace studio
