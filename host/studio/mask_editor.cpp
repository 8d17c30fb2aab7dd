#include "mask_editor.h"

#include <algorithm>
#include <cmath>

#include "ddpm/io/error.h"
#include "ddpm/io/png.h"

namespace studio {

bool MaskEditor::load(const std::string& path, int width, int height, std::string& error) {
  try {
    const ddpm::io::Image im = ddpm::io::read_image(path);
    if (im.width < 1 || im.height < 1) throw ddpm::Error("image '" + path + "' is empty");
    set(im, width, height);
    return true;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

void MaskEditor::set(const ddpm::io::Image& src, int width, int height) {
  ddpm::io::Image rgba = ddpm::io::to_rgba(src);
  if (rgba.width != width || rgba.height != height) rgba = ddpm::io::resize(rgba, width, height);
  image_ = std::move(rgba);
  mask_.assign(static_cast<size_t>(width) * height, 255);
  dirty_ = true;
}

void MaskEditor::clear() {
  image_ = ddpm::io::Image{};
  mask_.clear();
}

bool MaskEditor::mask_used() const {
  return std::any_of(mask_.begin(), mask_.end(), [](uint8_t m) { return m < 128; });
}

void MaskEditor::fill_mask(uint8_t value) {
  std::fill(mask_.begin(), mask_.end(), value);
  dirty_ = true;
}

void MaskEditor::invert_mask() {
  for (auto& m : mask_) m = static_cast<uint8_t>(255 - m);
  dirty_ = true;
}

void MaskEditor::paint(float u, float v, float radius, bool generate) {
  if (!has_image()) return;
  const int w = image_.width, h = image_.height;
  const float cx = u * w, cy = v * h;
  const int r = static_cast<int>(std::ceil(radius));
  for (int y = std::max(0, int(cy) - r); y <= std::min(h - 1, int(cy) + r); ++y) {
    for (int x = std::max(0, int(cx) - r); x <= std::min(w - 1, int(cx) + r); ++x) {
      const float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
      if (dx * dx + dy * dy <= radius * radius) mask_[static_cast<size_t>(y) * w + x] = generate ? 0 : 255;
    }
  }
  dirty_ = true;
}

void MaskEditor::sync_textures() {
  if (!dirty_ || !has_image()) return;
  image_tex_.upload_rgba8(image_.pixels.data(), image_.width, image_.height);
  mask_tex_.upload_r8(mask_.data(), image_.width, image_.height);
  dirty_ = false;
}

}  // namespace studio
