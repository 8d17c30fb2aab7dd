#include "png_output.h"

#include <cctype>
#include <filesystem>

#include "cli_common.h"
#include "ddpm/io/error.h"
#include "ddpm/io/png.h"

namespace ddpm_cli {
namespace fs = std::filesystem;

bool has_png_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".png";
}

void check_png_output(const std::string& path, const std::string& option) {
  if (!has_png_extension(path)) user_error(option + " '" + path + "' must end in .png");
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    user_error(option + " '" + path + "': folder '" + parent.string() + "' does not exist");
  }
}

ddpm::io::Image to_image(const uint8_t* rgba, int w, int h, int channels) {
  // Keep the model's channels: gray stays gray, RGB drops the constant alpha.
  const int c = channels == 1 ? 1 : channels == 3 ? 3 : 4;
  ddpm::io::Image im(w, h, c);
  const size_t n = size_t(w) * h;
  for (size_t i = 0; i < n; ++i) {
    for (int k = 0; k < c; ++k) im.pixels[i * c + k] = rgba[i * 4 + k];
  }
  return im;
}

void save_png(const std::string& path, const ddpm::io::Image& im) {
  try {
    ddpm::io::write_png(path, im);
  } catch (const ddpm::Error& e) {
    user_error(std::string("cannot write '") + path + "': " + e.what());
  }
}

}  // namespace ddpm_cli
