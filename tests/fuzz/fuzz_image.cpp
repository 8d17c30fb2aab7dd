// Image files in every accepted format (PNG, JPEG, BMP, TGA, GIF), then what the asset-folder
// loader and the img2img path do with them: resizing (filtered and nearest) and conversion to
// the model's channel layout.
#include <cstdint>

#include "ddpm/io/error.h"
#include "ddpm/io/image.h"
#include "ddpm/io/pixel_convert.h"
#include "ddpm/io/png.h"
#include "fuzz_common.h"

using namespace ddpm::io;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Image im;
  try {
    im = decode_image(data, size, "fuzz.img");
  } catch (const ddpm::Error&) {
    return 0;
  }
  FUZZ_CHECK(im.width >= 1 && im.height >= 1 && im.width <= kMaxImageSide &&
             im.height <= kMaxImageSide && im.channels >= 1 && im.channels <= 4);
  FUZZ_CHECK(im.pixels.size() == std::size_t(im.width) * im.height * im.channels);
  // Resizing a large image dominates the time (stb's resampler, instrumented) and explores
  // nothing new: the decoders get the throughput, the resampler the small images.
  if (std::size_t(im.width) * im.height > 256 * 256) return 0;
  // Sizes from the last byte, so the fuzzer explores up- and downscaling.
  const int side = 1 + (size ? data[size - 1] % 48 : 0);
  const Image a = resize(im, side, side, false);
  const Image b = resize(im, side + 1, side, true);
  FUZZ_CHECK(a.pixels.size() == std::size_t(side) * side * im.channels);
  for (int c : {1, 3, 4}) {
    const Image d = convert_channels(b, c);
    FUZZ_CHECK(d.channels == c && d.width == side + 1);
  }
  const auto png = encode_png(a);
  const Image back = decode_image(png.data(), png.size(), "round trip");
  FUZZ_CHECK(back.pixels == a.pixels);
  return 0;
}
