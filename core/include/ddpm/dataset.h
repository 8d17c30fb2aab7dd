#pragma once
// Training data from an asset folder, held in memory (these sets are small) and drawn in
// random augmented batches: the reference's resize to 1.25x then a random resized crop
// (scale 0.8-1.0, aspect 3/4-4/3), or each image whole (one antialiased fit, or a nearest-
// neighbour fit for pixel art), with optional horizontal flips; values in [-1, 1].
#include <torch/torch.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

namespace ddpm {

struct DatasetOptions {
  int image_size = 32;
  int channels = 4;          // the model's: 1, 3 or 4
  bool pixel_art = false;    // nearest fit, no crop
  bool flip = false;         // random horizontal flips
  // Keep the images at 1.25x for random resized crops, or (false) at the model's size and
  // whole: one antialiased fit of each file, as evaluation needs (a fit to 1.25x and back
  // blurs files already at the model's size), and as a fine-tune of a style may want (a crop
  // also zooms and stretches, which the samples then learn).
  bool random_crop = true;
  std::array<std::uint8_t, 3> background = {255, 255, 255};  // under transparency, RGB/gray
  std::function<void(std::size_t, std::size_t)> progress;    // files loaded, files in all
};

// How the training images use alpha, and the cutoff sampling should take from that.
struct AlphaCoverage {
  double transparent = 0;  // fraction of pixels with alpha exactly 0
  double faint = 0;        // fraction with alpha 1 to 12 of 255 (below kAlphaCutoff)
  // kAlphaCutoff where at least a tenth of the pixels are exactly transparent and fewer than
  // one in twenty are faint (a clear background, not soft content such as smoke or glow), else
  // 0. On OpenMoji (64 % transparent, 0.4 % faint) a 10-minute fine-tune's samples had alpha 1-12
  // on a third of their pixels; clearing them cut the quality bench's distance 5 %, and 0.1
  // (which clears real soft edges too) raised it 14 % (tests/bench/NOTES.md).
  float cutoff() const;
};
constexpr float kAlphaCutoff = 0.05f;

class AssetDataset {
 public:
  // Loads and converts every image; throws ddpm::Error naming the folder when nothing loads.
  AssetDataset(const std::string& folder, const DatasetOptions& options);

  // `batch` random images (with replacement) and their labels, drawn from `gen`.
  std::pair<torch::Tensor, torch::Tensor> batch(int batch, at::Generator& gen) const;
  // Rows [begin, begin + count) of the same batch: all of the batch's random draws are made (so
  // the generator moves exactly as for the whole batch), only these rows are decoded. A
  // data-parallel rank takes its slice of the global batch this way.
  std::pair<torch::Tensor, torch::Tensor> batch_rows(int batch, int begin, int count, at::Generator& gen) const;

  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::vector<std::string>& skipped() const { return skipped_; }
  int64_t size() const { return images_.size(0); }
  const torch::Tensor& labels() const { return labels_; }
  // The images at the model's size without augmentation, [N, C, S, S] in [-1, 1].
  torch::Tensor plain_images() const;
  // Zero for images of 1 or 3 channels.
  AlphaCoverage alpha_coverage() const;

 private:
  DatasetOptions options_;
  std::vector<std::string> class_names_, skipped_;
  torch::Tensor images_;  // uint8 [N, C, L, L], L = 1.25 S (or S for pixel art)
  torch::Tensor labels_;  // int64 [N]
};

}  // namespace ddpm
