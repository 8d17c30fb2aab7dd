#pragma once
// Scoring a model of finer classes with a judge of coarse ones: a model whose classes include
// "objects.clothing", "objects.tool", ... (folders made by `make-sample-assets.py
// --subcategories`) draws the judge's class "objects" as a mix of those subclasses, in
// proportion to their images in the subclass folder, so that its samples have the real images'
// mix and their distance measures the pictures, not a different mix.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ddpm/io/error.h"

namespace quality {

class SubclassMix {
 public:
  // model_classes: the model's class names; fine_assets: the folder of subclasses (may be empty
  // when the model has the judge's classes themselves).
  SubclassMix(const std::vector<std::string>& model_classes, const std::string& fine_assets)
      : model_(model_classes), fine_(fine_assets) {}

  // The model's class for image k (0-based) of the `count` images of the judge's class `name`.
  int64_t model_class(const std::string& name, int64_t k, int64_t count) const {
    // With a subclass folder, the subclasses "name.*" (a model fine-tuned from a coarse one
    // keeps the coarse rows too), each repeated as often as it has images: image k takes the
    // subclass of the real image at the same relative position (a proportional, deterministic mix).
    std::vector<int64_t> slots;
    for (std::size_t i = 0; i < model_.size() && !fine_.empty(); ++i) {
      if (model_[i].rfind(name + ".", 0) != 0) continue;
      slots.insert(slots.end(), images_in(fine_ + "/" + model_[i]), static_cast<int64_t>(i));
    }
    if (!slots.empty()) return slots[static_cast<std::size_t>((2 * k + 1) * static_cast<int64_t>(slots.size()) / (2 * count))];
    const auto exact = std::find(model_.begin(), model_.end(), name);
    if (exact == model_.end()) throw ddpm::Error("class '" + name + "' is neither a class of the model nor has subclasses '" + name + ".*' there");
    return exact - model_.begin();
  }

 private:
  static int64_t images_in(const std::string& dir) {
    std::error_code ec;
    int64_t n = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir, ec)) n += f.is_regular_file();
    if (ec || n == 0) throw ddpm::Error("--fine-assets: no images in " + dir);
    return n;
  }
  std::vector<std::string> model_;
  std::string fine_;
};

}  // namespace quality
