// Image I/O without LibTorch: PNG round trips, hostile headers, resizing, grids, atomic writes.
#include <gtest/gtest.h>

#include "error_of.h"

#include <filesystem>
#include <fstream>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/io/png.h"

namespace fs = std::filesystem;

namespace {

ddpm::io::Image gradient(int w, int h, int c) {
  ddpm::io::Image im(w, h, c);
  for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<uint8_t>(i * 37 + 11);
  return im;
}

using ddpm::testing::error_of;

TEST(ImageIo, PngRoundTripsEveryChannelCount) {
  for (int c = 1; c <= 4; ++c) {
    const auto im = gradient(13, 7, c);
    const auto bytes = ddpm::io::encode_png(im);
    const auto back = ddpm::io::decode_image(bytes.data(), bytes.size(), "mem");
    EXPECT_EQ(back.width, 13);
    EXPECT_EQ(back.height, 7);
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.pixels, im.pixels);
  }
}

TEST(ImageIo, HostileAndBrokenFilesAreRefusedByName) {
  const std::vector<uint8_t> junk = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  EXPECT_NE(error_of([&] { ddpm::io::decode_image(junk.data(), junk.size(), "junk.png"); })
                .find("image 'junk.png' cannot be decoded"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ddpm::io::decode_image(junk.data(), 0, "empty.png"); }).find("empty"),
            std::string::npos);
  // A valid PNG whose header claims 10000 x 10000 pixels: refused before decoding.
  auto bytes = ddpm::io::encode_png(gradient(4, 4, 4));
  const uint32_t big = 10000;
  for (int i = 0; i < 4; ++i) bytes[16 + i] = bytes[20 + i] = (big >> (24 - 8 * i)) & 0xff;
  EXPECT_NE(error_of([&] { ddpm::io::decode_image(bytes.data(), bytes.size(), "big.png"); })
                .find("10000x10000"),
            std::string::npos)
      << error_of([&] { ddpm::io::decode_image(bytes.data(), bytes.size(), "big.png"); });
  // Truncated file.
  auto good = ddpm::io::encode_png(gradient(32, 32, 3));
  EXPECT_NE(error_of([&] { ddpm::io::decode_image(good.data(), good.size() / 2, "half.png"); }),
            "no error");
  EXPECT_NE(error_of([] { ddpm::io::read_image("/nonexistent/x.png"); }).find("/nonexistent/x.png"),
            std::string::npos);
  EXPECT_THROW(ddpm::io::Image(0, 5, 3), ddpm::Error);
}

TEST(ImageIo, ResizeKeepsFlatColourAndNearestPicksPixels) {
  ddpm::io::Image flat(9, 9, 4);
  for (std::size_t i = 0; i < flat.pixels.size(); i += 4) {
    flat.pixels[i] = 200; flat.pixels[i + 1] = 100; flat.pixels[i + 2] = 50; flat.pixels[i + 3] = 255;
  }
  const auto small = ddpm::io::resize(flat, 4, 4);
  for (std::size_t i = 0; i < small.pixels.size(); i += 4) {
    EXPECT_NEAR(small.pixels[i], 200, 1);
    EXPECT_NEAR(small.pixels[i + 3], 255, 1);
  }
  const auto px = gradient(2, 2, 1);
  const auto big = ddpm::io::resize(px, 4, 4, /*nearest=*/true);
  EXPECT_EQ(*big.at(0, 0), *px.at(0, 0));
  EXPECT_EQ(*big.at(3, 3), *px.at(1, 1));
  EXPECT_EQ(*big.at(2, 0), *px.at(1, 0));
}

TEST(ImageIo, GridPlacesEachImage) {
  std::vector<ddpm::io::Image> ims = {gradient(3, 2, 4), gradient(3, 2, 1), gradient(3, 2, 4)};
  const auto g = ddpm::io::make_grid(ims, 2, 1);
  EXPECT_EQ(g.width, 2 * 3 + 3);
  EXPECT_EQ(g.height, 2 * 2 + 3);
  EXPECT_EQ(g.at(1, 1)[0], ims[0].at(0, 0)[0]);
  EXPECT_EQ(g.at(5, 1)[0], ims[1].at(0, 0)[0]);  // gray replicated
  EXPECT_EQ(g.at(5, 1)[3], 255);
  EXPECT_EQ(g.at(1, 4)[2], ims[2].at(0, 0)[2]);
  EXPECT_EQ(g.at(0, 0)[3], 0);  // transparent padding
  ims.push_back(gradient(2, 2, 4));
  EXPECT_NE(error_of([&] { ddpm::io::make_grid(ims, 2); }).find("differ in size"), std::string::npos);
}

TEST(AtomicFile, ReplacesWholeAndKeepsTheOldFileOnFailure) {
  const fs::path dir = fs::temp_directory_path() / ("ddpm_atomic_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "model.bin").string();
  ddpm::io::write_file_atomic(path, std::vector<uint8_t>(1000, 1));
  ddpm::io::write_file_atomic(path, std::vector<uint8_t>(10, 2));
  EXPECT_EQ(fs::file_size(path), 10u);
  // A destination that cannot be replaced (a non-empty folder of that name) fails cleanly.
  fs::create_directories(dir / "taken" / "x");
  EXPECT_NE(error_of([&] {
              ddpm::io::write_file_atomic((dir / "taken").string(), std::vector<uint8_t>(5, 3));
            }).find("taken"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ddpm::io::write_file_atomic((dir / "missing" / "f").string(), std::vector<uint8_t>(1, 0));
            }).find("missing"),
            std::string::npos);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);  // no temporaries left behind
  fs::remove_all(dir);
}

}  // namespace

namespace {

// 16 bits per channel (tests/fixtures/images/rgba16.png, made by hand: channel c at (x, y)
// holds (4x + y) * 4096 + 256 c) decodes to 8 bits by keeping the high byte.
TEST(ImageIo, SixteenBitPngDecodesToEightBits) {
  const auto im = ddpm::io::read_image(DDPM_SOURCE_DIR "/tests/fixtures/images/rgba16.png");
  ASSERT_EQ(im.channels, 4);
  ASSERT_EQ(im.width, 4);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) {
      for (int c = 0; c < 4; ++c) {
        EXPECT_EQ(im.at(x, y)[c], ((x * 4 + y) * 4096 + c * 256) >> 8) << x << "," << y << "," << c;
      }
    }
  }
}

}  // namespace
