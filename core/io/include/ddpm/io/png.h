#pragma once
// Image files: decoding of PNG, BMP, TGA and GIF (first frame) through stb_image and of JPEG
// through libjpeg-turbo, with the dimensions checked from the header before any pixel is
// decoded, and PNG encoding.
#include <cstdint>
#include <string>
#include <vector>

#include "ddpm/io/image.h"

namespace ddpm::io {

// Largest width or height accepted from a file: bounds the memory a hostile header can ask for.
constexpr int kMaxImageSide = 8192;

// Decodes an image file held in memory, keeping its own channel count. `name` is used in
// error messages. Throws ddpm::Error with the reason on failure.
Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name);
Image read_image(const std::string& path);

std::vector<std::uint8_t> encode_png(const Image& image);
// Writes atomically (temporary file and rename).
void write_png(const std::string& path, const Image& image);

}  // namespace ddpm::io
