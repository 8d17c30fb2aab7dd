#pragma once
// JPEG decoding through libjpeg-turbo (not stb_image, whose JPEG decoder Debian 12 ships with
// an unchecked Huffman table builder: a fuzzed file overflowed its heap state past every check
// we put in front of it).
#include <cstddef>
#include <cstdint>
#include <string>

#include "ddpm/io/image.h"

namespace ddpm::io::detail {

// Gray files decode to 1 channel, colour (YCbCr, RGB, CMYK, YCCK) to 3. Throws ddpm::Error
// naming `name` and the reason on a corrupt, truncated or oversized file.
Image decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name);

}  // namespace ddpm::io::detail
