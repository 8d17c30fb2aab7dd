#include "ddpm/dataset.h"

#include <cmath>

#include "ddpm/io/asset_folder.h"
#include "ddpm/io/error.h"
#include "ddpm/io/pixel_convert.h"

namespace ddpm {
namespace F = torch::nn::functional;

namespace {
// Random resized crops need the 1.25x copy; pixel art is never cropped.
bool random_crops(const DatasetOptions& o) { return o.random_crop && !o.pixel_art; }
}  // namespace

AssetDataset::AssetDataset(const std::string& folder, const DatasetOptions& o) : options_(o) {
  if (o.image_size < 1) throw Error("image size " + std::to_string(o.image_size) + " is invalid");
  io::AssetFolderOptions lo;
  // The reference resizes to 80 for 64 crops: load at 1.25x and crop at random per batch.
  lo.size = random_crops(o) ? static_cast<int>(std::lround(o.image_size * 1.25)) : o.image_size;
  lo.nearest = o.pixel_art;
  lo.progress = o.progress;
  io::AssetFolder f = io::load_asset_folder(folder, lo);
  class_names_ = f.class_names;
  skipped_ = f.skipped;
  std::vector<torch::Tensor> images;
  for (const io::Image& im : f.images) {
    const io::Image c = io::convert_channels(im, o.channels, o.background);
    images.push_back(torch::from_blob(const_cast<uint8_t*>(c.pixels.data()),
                                      {c.height, c.width, c.channels}, torch::kUInt8)
                         .permute({2, 0, 1})
                         .clone());
  }
  images_ = torch::stack(images);
  labels_ = torch::tensor(std::vector<int64_t>(f.labels.begin(), f.labels.end()));
}

torch::Tensor AssetDataset::plain_images() const {
  torch::Tensor x = images_.to(torch::kFloat32) / 127.5 - 1;
  if (x.size(-1) != options_.image_size) {
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{options_.image_size, options_.image_size})
                              .mode(torch::kBilinear)
                              .align_corners(false)
                              .antialias(true));
  }
  return x;
}

float AlphaCoverage::cutoff() const { return transparent >= 0.1 && faint < 0.05 ? kAlphaCutoff : 0.0f; }

AlphaCoverage AssetDataset::alpha_coverage() const {
  if (images_.size(1) != 4) return {};
  const torch::Tensor alpha = images_.select(1, 3);
  const auto limit = static_cast<int>(std::ceil(kAlphaCutoff * 255));  // 13: alpha 1..12 is faint
  return {alpha.eq(0).to(torch::kDouble).mean().item<double>(),
          (alpha.gt(0) & alpha.lt(limit)).to(torch::kDouble).mean().item<double>()};
}

std::pair<torch::Tensor, torch::Tensor> AssetDataset::batch(int batch, at::Generator& gen) const {
  return batch_rows(batch, 0, batch, gen);
}

std::pair<torch::Tensor, torch::Tensor> AssetDataset::batch_rows(int batch, int begin, int count,
                                                                 at::Generator& gen) const {
  const torch::Tensor idx = torch::randint(size(), {batch}, gen, torch::kLong).narrow(0, begin, count);
  const int64_t S = options_.image_size, L = images_.size(-1);
  torch::Tensor out = torch::empty({count, images_.size(1), S, S});
  // All draws up front, for the whole batch.
  const torch::Tensor u = torch::rand({batch, 5}, gen, torch::kFloat64).narrow(0, begin, count);
  for (int i = 0; i < count; ++i) {
    torch::Tensor im = images_[idx[i].item<int64_t>()].to(torch::kFloat32) / 127.5 - 1;
    if (random_crops(options_)) {
      // Random resized crop: area fraction in [0.8, 1], log-uniform aspect in [3/4, 4/3].
      const double area = (0.8 + 0.2 * u[i][0].item<double>()) * L * L;
      const double aspect = std::exp(std::log(0.75) + (std::log(4.0 / 3) - std::log(0.75)) * u[i][1].item<double>());
      const int64_t w = std::clamp<int64_t>(std::llround(std::sqrt(area * aspect)), 1, L);
      const int64_t h = std::clamp<int64_t>(std::llround(std::sqrt(area / aspect)), 1, L);
      const int64_t x0 = static_cast<int64_t>(u[i][2].item<double>() * (L - w + 1));
      const int64_t y0 = static_cast<int64_t>(u[i][3].item<double>() * (L - h + 1));
      im = F::interpolate(im.narrow(1, y0, h).narrow(2, x0, w).unsqueeze(0),
                          F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{S, S})
                              .mode(torch::kBilinear)
                              .align_corners(false))
               .squeeze(0);
    }
    if (options_.flip && u[i][4].item<double>() < 0.5) im = im.flip({2});
    out[i].copy_(im);
  }
  return {out, labels_.index_select(0, idx)};
}

}  // namespace ddpm
