#pragma once
// The quality benchmarks' judge: small BatchNorm CNN classifiers trained on the real images of
// an asset folder (an ensemble of a few, differing in seed), whose averaged predictions give
// class accuracy and whose members' pooled features each give a Frechet distance. Trained
// once per folder and options, then kept in out/ so that runs of a few minutes can score
// several models with the same judge.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace quality {

// What the classifier sees: RGB composited over mid-gray by alpha, plus alpha itself. The
// colour under fully transparent pixels is arbitrary (in the PNGs and in the samples), and
// compositing makes it irrelevant, while a wrong alpha (a halo, a hole) changes the RGB and
// stays visible in the alpha channel. Images with 1 or 3 channels are taken as they are.
torch::Tensor classifier_input(const torch::Tensor& images);

// A degraded copy, the anchor that says how bad a distance is: each image box-averaged down by
// `factor` and scaled back up bilinearly (a blur that keeps colours and layout).
torch::Tensor degrade(const torch::Tensor& images, int factor);

// Deterministic, stratified split: 3 of every 20 images of each class (spread through the
// class; folder order is sorted, so runs agree) are held out from the judge's training.
struct Split {
  std::vector<std::vector<int64_t>> train, heldout;  // image indices, by class
  std::vector<int64_t> all(bool heldout_images) const;
};
Split split_by_class(const torch::Tensor& labels, int classes);

struct JudgeOptions {
  int members = 3;    // classifiers in the ensemble (seeds seed, seed + 1, ...)
  int width = 32;     // channels of the first stage, then 2x and 4x; 4x is the feature size
  int epochs = 60;    // passes over the training split (class-balanced batches): 0.765 held-out at 60, 0.740 at 30
  int batch = 64;
  double lr = 2e-3;
  int shift = 3;      // random translation of up to this many pixels, besides flips
  uint64_t seed = 1;
  std::string cache_dir = "out/quality-judge";  // empty: train every run, keep nothing
};

class Judge {
 public:
  // `images`: the folder's plain images at the model's size and channels, [N, C, S, S] in
  // [-1, 1]; `labels`: [N]. Loads the weights kept for exactly these images and options, or
  // trains on the split's training images (and keeps the result, written atomically).
  Judge(const torch::Tensor& images, const torch::Tensor& labels, const Split& split, int classes,
        const JudgeOptions& options, torch::Device device);
  ~Judge();

  torch::Tensor predict(const torch::Tensor& images) const;   // [N] class indices
  // Member `member`'s pooled features, [N, 4 * width].
  torch::Tensor features(const torch::Tensor& images, int member) const;
  int members() const { return static_cast<int>(nets_.size()); }

  double training_seconds = 0;  // 0 when loaded
  std::string cache_file;       // where the members are kept, a pattern ("" without a cache)
  bool loaded = false;

  struct Net;  // one member (defined in quality_judge.cpp)

 private:
  std::vector<std::shared_ptr<Net>> nets_;
  torch::Device device_;
};

}  // namespace quality
