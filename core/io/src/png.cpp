#include "ddpm/io/png.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <cstring>
#include <memory>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/io/file_bytes.h"
#include "decode_limits.h"
#include "jpeg_decoder.h"

namespace ddpm::io {
namespace {

// Image files are small; this bounds what read_image reads before decoding anything.
constexpr std::size_t kMaxImageFileBytes = std::size_t(256) << 20;

enum class Format { Png, Jpeg, Bmp, Gif, Tga };

bool starts_with(const std::uint8_t* data, std::size_t size, const char* magic, std::size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

// stb_image also decodes PSD, PIC, PNM and HDR, formats nobody makes sprites in and whose
// decoders are the least exercised; refuse them by their magic numbers before stb sees them.
// What remains goes to the decoder stb would pick: PNG, BMP, GIF, JPEG by their signatures,
// anything else to the TGA decoder (TGA has no signature), exactly stb's own order; JPEG then
// goes to libjpeg-turbo instead (jpeg_decoder.h), so no byte of it reaches stb.
Format sniff(const std::uint8_t* data, std::size_t size, const std::string& name) {
  if (starts_with(data, size, "\x89PNG\r\n\x1a\n", 8)) return Format::Png;
  if (starts_with(data, size, "BM", 2)) return Format::Bmp;
  if (starts_with(data, size, "GIF8", 4)) return Format::Gif;
  std::size_t i = 0;
  while (i < size && data[i] == 0xff) ++i;
  if (i > 0 && i < size && data[i] == 0xd8) return Format::Jpeg;
  const char* other = nullptr;
  if (starts_with(data, size, "8BPS", 4)) other = "Photoshop (PSD)";
  if (starts_with(data, size, "S\x80\xf6\x34", 4)) other = "Softimage PIC";
  if (starts_with(data, size, "P5", 2) || starts_with(data, size, "P6", 2)) other = "PNM";
  if (starts_with(data, size, "#?RADIANCE\n", 11) || starts_with(data, size, "#?RGBE\n", 7)) {
    other = "Radiance HDR";
  }
  if (other) {
    throw Error("image '" + name + "' is a " + other +
                " file, which is not accepted: use PNG, JPEG, BMP, TGA or GIF");
  }
  return Format::Tga;
}

// stb reallocates a PNG's compressed data to each chunk's declared length before it reads the
// chunk, so a forged length (up to 2^31) allocated gigabytes for a few bytes of file (found by
// fuzz_image). Every chunk must fit in the bytes that are there.
void check_png(const std::uint8_t* data, std::size_t size, const std::string& name) {
  std::size_t at = 8;  // after the signature
  while (size - at >= 12) {  // length, type, CRC
    const std::uint32_t length = std::uint32_t(data[at]) << 24 | std::uint32_t(data[at + 1]) << 16 |
                                 std::uint32_t(data[at + 2]) << 8 | data[at + 3];
    if (length > size - at - 12) {
      throw Error("image '" + name + "' is a PNG whose chunk at byte " + std::to_string(at) + " declares " +
                  std::to_string(length) + " bytes where " + std::to_string(size - at - 12) +
                  " remain: truncated or forged");
    }
    if (std::memcmp(data + at + 4, "IEND", 4) == 0) return;
    at += 12 + std::size_t(length);
  }
}

}  // namespace

Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name) {
  if (size == 0) throw Error("image '" + name + "' is empty (0 bytes)");
  if (size > std::size_t(1) << 31) throw Error("image '" + name + "' is larger than 2 GiB");
  const int len = static_cast<int>(size);
  const Format format = sniff(data, size, name);
  if (format == Format::Jpeg) return detail::decode_jpeg(data, size, name);
  if (format == Format::Png) check_png(data, size, name);
  int w = 0, h = 0, c = 0;
  // Read the header first so that a hostile size is refused before anything is allocated.
  if (!stbi_info_from_memory(data, len, &w, &h, &c)) {
    throw Error("image '" + name + "' cannot be decoded: " + stbi_failure_reason());
  }
  detail::check_declared_size(w, h, size, name);
  int w2 = 0, h2 = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(data, len, &w2, &h2, &c, 0),
                                              stbi_image_free);
  if (!px) throw Error("image '" + name + "' cannot be decoded: " + stbi_failure_reason());
  if (w2 != w || h2 != h || c < 1 || c > 4) {
    throw Error("image '" + name + "' cannot be decoded: its header and its data disagree on the size");
  }
  Image out(w, h, c);
  std::memcpy(out.pixels.data(), px.get(), out.pixels.size());
  return out;
}

Image read_image(const std::string& path) {
  std::vector<std::uint8_t> bytes;
  try {
    bytes = read_file(path, kMaxImageFileBytes);
  } catch (const Error& e) {
    throw Error("cannot open image '" + path + "': " + e.what());
  }
  return decode_image(bytes.data(), bytes.size(), path);
}

std::vector<std::uint8_t> encode_png(const Image& image) {
  if (image.width < 1 || image.height < 1 || image.channels < 1 || image.channels > 4 ||
      image.pixels.size() != std::size_t(image.width) * image.height * image.channels) {
    throw Error("cannot encode an invalid image as PNG (" + std::to_string(image.width) + "x" +
                std::to_string(image.height) + "x" + std::to_string(image.channels) + ")");
  }
  std::vector<std::uint8_t> out;
  const auto append = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<std::uint8_t>*>(ctx);
    const auto* p = static_cast<const std::uint8_t*>(data);
    v->insert(v->end(), p, p + size);
  };
  if (!stbi_write_png_to_func(append, &out, image.width, image.height, image.channels,
                              image.pixels.data(), image.width * image.channels)) {
    throw Error("PNG encoding failed");
  }
  return out;
}

void write_png(const std::string& path, const Image& image) {
  write_file_atomic(path, encode_png(image));
}

}  // namespace ddpm::io
