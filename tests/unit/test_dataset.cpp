// Training batches from an asset folder: whole images when random crops are off (each row is
// exactly one file's fit, or its mirror with flips), zoomed and stretched copies when they are on.
#include <gtest/gtest.h>

#include "ddpm/dataset.h"
#include "ddpm/io/image.h"
#include "ddpm/io/png.h"
#include "temp_dir.h"

namespace {

ddpm::AssetDataset samples(bool random_crop, bool flip) {
  ddpm::DatasetOptions o;
  o.image_size = 32;
  o.random_crop = random_crop;
  o.flip = flip;
  return ddpm::AssetDataset(DDPM_SOURCE_DIR "/assets/samples", o);
}

// For each row of `x`, the smallest max-abs difference to any of `images` (and of their mirrors).
torch::Tensor nearest_distance(const torch::Tensor& x, const torch::Tensor& images, bool mirrors) {
  torch::Tensor all = mirrors ? torch::cat({images, images.flip({3})}) : images;
  torch::Tensor d = (x.unsqueeze(1) - all.unsqueeze(0)).abs().amax({2, 3, 4});
  return std::get<0>(d.min(1));
}

}  // namespace

TEST(Dataset, WithoutRandomCropsEveryRowIsAWholeImageOfItsLabel) {
  const ddpm::AssetDataset data = samples(false, false);
  const torch::Tensor whole = data.plain_images();
  ASSERT_EQ(whole.sizes(), (std::vector<int64_t>{60, 4, 32, 32}));
  at::Generator gen = at::detail::createCPUGenerator(3);
  auto [x, labels] = data.batch(24, gen);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{24, 4, 32, 32}));
  EXPECT_EQ(nearest_distance(x, whole, false).max().item<float>(), 0.0f);  // bit for bit
  // The label is that image's class (the folder has 20 per class, in class order).
  for (int i = 0; i < 24; ++i) {
    const int64_t j = (x[i].unsqueeze(0) - whole).abs().amax({1, 2, 3}).argmin().item<int64_t>();
    EXPECT_EQ(labels[i].item<int64_t>(), j / 20);
  }
}

TEST(Dataset, FlipsMirrorWholeImagesAndRandomCropsResampleThem) {
  at::Generator gen = at::detail::createCPUGenerator(5);
  const ddpm::AssetDataset flipped = samples(false, true);
  const torch::Tensor whole = flipped.plain_images();
  const torch::Tensor f = flipped.batch(32, gen).first;
  EXPECT_EQ(nearest_distance(f, whole, true).max().item<float>(), 0.0f);
  EXPECT_GT(nearest_distance(f, whole, false).max().item<float>(), 0.1f);  // some were mirrored

  // Crops zoom (up to 1.12x) and stretch (up to 4:3): no row is any whole image.
  const ddpm::AssetDataset cropped = samples(true, false);
  const torch::Tensor c = cropped.batch(32, gen).first;
  EXPECT_GT(nearest_distance(c, whole, false).min().item<float>(), 0.05f);
}

TEST(Dataset, AlphaCutoffOnlyWhereTheImagesHaveClearBackgrounds) {
  // The sample emoji: transparent around each icon, few faint pixels.
  const ddpm::AlphaCoverage emoji = samples(false, false).alpha_coverage();
  EXPECT_GT(emoji.transparent, 0.1);
  EXPECT_LT(emoji.faint, 0.05);
  EXPECT_FLOAT_EQ(emoji.cutoff(), ddpm::kAlphaCutoff);

  // Soft content (a glow fading to alpha 4 over the whole tile, half of it clear): kept as drawn.
  ddpm::testing::TempDir d;
  std::filesystem::create_directories(d.path / "glow");
  for (int k = 0; k < 2; ++k) {
    ddpm::io::Image im(32, 32, 4);
    for (int i = 0; i < 32 * 32; ++i) im.pixels[4 * i + 3] = i % 2 ? 0 : static_cast<uint8_t>(4 + k);
    ddpm::io::write_png((d.path / "glow" / ("g" + std::to_string(k) + ".png")).string(), im);
  }
  ddpm::DatasetOptions o;
  o.random_crop = false;
  const ddpm::AlphaCoverage glow = ddpm::AssetDataset(d.path.string(), o).alpha_coverage();
  EXPECT_GT(glow.faint, 0.3);
  EXPECT_EQ(glow.cutoff(), 0.0f);

  o.channels = 3;  // no alpha
  EXPECT_EQ(ddpm::AssetDataset(DDPM_SOURCE_DIR "/assets/samples", o).alpha_coverage().cutoff(), 0.0f);
}
