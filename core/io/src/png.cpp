#include "ddpm/io/png.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"

namespace ddpm::io {

Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name) {
  if (size == 0) throw Error("image '" + name + "' is empty (0 bytes)");
  if (size > std::size_t(1) << 31) throw Error("image '" + name + "' is larger than 2 GiB");
  const int len = static_cast<int>(size);
  int w = 0, h = 0, c = 0;
  // Read the header first so that a hostile size is refused before anything is allocated.
  if (!stbi_info_from_memory(data, len, &w, &h, &c)) {
    throw Error("image '" + name + "' cannot be decoded: " + stbi_failure_reason());
  }
  if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide) {
    throw Error("image '" + name + "' is " + std::to_string(w) + "x" + std::to_string(h) +
                ": sides must be between 1 and " + std::to_string(kMaxImageSide));
  }
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(data, len, &w, &h, &c, 0),
                                              stbi_image_free);
  if (!px) throw Error("image '" + name + "' cannot be decoded: " + stbi_failure_reason());
  Image out(w, h, c);
  std::memcpy(out.pixels.data(), px.get(), out.pixels.size());
  return out;
}

Image read_image(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open image '" + path + "'");
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)),
                                        std::istreambuf_iterator<char>());
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
