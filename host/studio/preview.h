#pragma once
// The preview renderer: draws the frame texture through shaders/preview.* into an offscreen
// texture of the size ImGui shows it at (so zoom, checkerboard and tiling are done in GLSL).
#include <string>

#include "gl_util.h"

namespace studio {

struct PreviewStyle {
  bool linear = false;     // linear filtering (textures) instead of nearest (pixel art)
  bool tile3x3 = false;    // repeat one image 3x3 to show its seams
  int tile_index = 0;      // which image of the batch the tiling preview repeats
  bool checker = true;     // checkerboard under transparent pixels, else `background`
  float background[3] = {0.5f, 0.5f, 0.5f};
  bool show_mask = false;  // tint the inpainting mask's generated region
};

struct GridRect {
  int x = 0, y = 0, w = 0, h = 0;  // texels of the frame texture
};

class PreviewRenderer {
 public:
  // Loads the program from `shader_dir`; on failure ok() is false and error() says why.
  explicit PreviewRenderer(const std::string& shader_dir);
  ~PreviewRenderer();
  PreviewRenderer(const PreviewRenderer&) = delete;
  PreviewRenderer& operator=(const PreviewRenderer&) = delete;

  bool ok() const { return program_ != 0; }
  const std::string& error() const { return error_; }

  // Renders `rect` of `image` into a width x height target and returns the target texture,
  // which holds this picture until the next render call on this renderer. `mask` may be 0.
  GLuint render(const Texture& image, GridRect rect, GLuint mask, int width, int height,
                const PreviewStyle& style);

 private:
  GLuint program_ = 0, vao_ = 0, fbo_ = 0, target_ = 0;
  int target_w_ = 0, target_h_ = 0;
  std::string error_;
};

}  // namespace studio
