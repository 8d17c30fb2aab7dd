#pragma once
// The image-to-image source and its inpainting mask, at the model's resolution. The mask is
// painted with the mouse: 255 keeps the source pixel, 0 lets the model generate it.
#include <cstdint>
#include <string>
#include <vector>

#include "ddpm/io/image.h"
#include "gl_util.h"

namespace studio {

class MaskEditor {
 public:
  // Reads an image file and fits it to width x height. False and `error` on failure (the
  // current image is kept).
  bool load(const std::string& path, int width, int height, std::string& error);
  // Uses an image already in memory (e.g. the last generated one).
  void set(const ddpm::io::Image& rgba, int width, int height);
  void clear();

  bool has_image() const { return !image_.pixels.empty(); }
  const ddpm::io::Image& image() const { return image_; }
  const std::vector<uint8_t>& mask() const { return mask_; }
  bool mask_used() const;  // anything to generate?

  void fill_mask(uint8_t value);
  void invert_mask();
  // Paints a disc at (u, v) in [0, 1] image coordinates, radius in image pixels.
  void paint(float u, float v, float radius, bool generate);

  // Uploads what changed; the textures feed the preview shader.
  void sync_textures();
  const Texture& image_texture() const { return image_tex_; }
  const Texture& mask_texture() const { return mask_tex_; }

 private:
  ddpm::io::Image image_;  // RGBA8
  std::vector<uint8_t> mask_;
  Texture image_tex_, mask_tex_;
  bool dirty_ = false;
};

}  // namespace studio
