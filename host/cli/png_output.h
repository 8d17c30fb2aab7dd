#pragma once
// Writing the sampled images as PNG files: checks on the paths given, and the conversion from
// the plugin's RGBA8 to the model's channels.
#include <cstdint>
#include <string>

#include "ddpm/io/image.h"

namespace ddpm_cli {

bool has_png_extension(const std::string& path);

// A user error unless `path` ends in .png and its folder exists; `option` names it.
void check_png_output(const std::string& path, const std::string& option);

// One image of w x h RGBA8 pixels, keeping the model's channels.
ddpm::io::Image to_image(const uint8_t* rgba, int w, int h, int channels);

// Throws Exit (user error) naming the file when it cannot be written.
void save_png(const std::string& path, const ddpm::io::Image& im);

}  // namespace ddpm_cli
