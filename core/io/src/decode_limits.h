#pragma once
// The size checks every decoder applies to an image's header before it decodes a pixel.
#include <cstddef>
#include <string>

#include "ddpm/io/error.h"
#include "ddpm/io/png.h"

namespace ddpm::io::detail {

// Decoded bytes allowed whatever the file size (a 2048x2048 RGBA image)...
constexpr std::size_t kFreeDecodedBytes = std::size_t(16) << 20;
// ...and beyond that, per byte of file: above what deflate (~1032:1), LZW or JPEG reach on a
// real flat image, far below what a forged header asks for (a 100-byte PNG that declares
// 8192x8192 RGBA would otherwise make the decoder allocate 256 MiB).
constexpr std::size_t kMaxExpansion = 4096;

inline void check_declared_size(long w, long h, std::size_t file_size, const std::string& name) {
  if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide) {
    throw Error("image '" + name + "' is " + std::to_string(w) + "x" + std::to_string(h) +
                ": sides must be between 1 and " + std::to_string(kMaxImageSide));
  }
  // 4 channels: the most any decoder produces on the way (GIF always decodes to RGBA).
  const std::size_t decoded = std::size_t(w) * std::size_t(h) * 4;
  if (decoded > kFreeDecodedBytes && decoded / kMaxExpansion > file_size) {
    throw Error("image '" + name + "' declares " + std::to_string(w) + "x" + std::to_string(h) +
                " pixels in a file of " + std::to_string(file_size) +
                " bytes: truncated or forged header");
  }
}

}  // namespace ddpm::io::detail
