// Tensor <-> image conversion and the runtime's thread setting.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "ddpm/io/png.h"
#include "ddpm/runtime.h"
#include "ddpm/tensor_image.h"

namespace {

TEST(TensorImage, RoundTripsEveryChannelLayout) {
  ddpm::io::Image im(5, 3, 4);
  for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<uint8_t>(i * 53);
  const torch::Tensor t = ddpm::from_image(im, 4);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{1, 4, 3, 5}));
  EXPECT_GE(t.min().item<float>(), -1.0f);
  EXPECT_LE(t.max().item<float>(), 1.0f);
  EXPECT_EQ(ddpm::to_images(t)[0].pixels, im.pixels);
  // RGB drops alpha; gray takes the luminance.
  const auto rgb = ddpm::to_images(ddpm::from_image(im, 3))[0];
  EXPECT_EQ(rgb.channels, 3);
  EXPECT_EQ(rgb.at(2, 1)[1], im.at(2, 1)[1]);
  const auto gray = ddpm::to_images(ddpm::from_image(im, 1))[0];
  const uint8_t* p = im.at(4, 2);
  EXPECT_NEAR(gray.at(4, 2)[0], 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2], 1.0);
  // Values outside [-1, 1] clamp to the ends.
  const auto ends = ddpm::to_images(torch::tensor({-3.0f, 3.0f}).view({1, 1, 1, 2}))[0];
  EXPECT_EQ(ends.pixels, (std::vector<uint8_t>{0, 255}));
  EXPECT_THROW(ddpm::from_image(im, 2), std::exception);
}

TEST(TensorImage, GridPngIsWrittenAndReadable) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("ddpm_grid_" + std::to_string(::getpid()) + ".png")).string();
  ddpm::save_grid_png(path, torch::zeros({5, 4, 8, 8}), 3);
  const auto back = ddpm::io::read_image(path);
  EXPECT_EQ(back.width, 3 * 8 + 4 * 2);
  EXPECT_EQ(back.height, 2 * 8 + 3 * 2);
  std::filesystem::remove(path);
}

TEST(Runtime, UsesEveryCoreAndRefusesMissingCuda) {
  ddpm::init_runtime();
  EXPECT_EQ(ddpm::runtime_threads(), static_cast<int>(std::thread::hardware_concurrency()));
  EXPECT_EQ(ddpm::select_device("cpu"), torch::Device(torch::kCPU));
  if (!torch::cuda::is_available()) EXPECT_THROW(ddpm::select_device("cuda"), std::exception);
  EXPECT_THROW(ddpm::select_device("tpu"), std::exception);
}

}  // namespace
