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
  // model_classes: the model's class names; judge_classes: the judge's (the folder's);
  // fine_assets: the folder of subclasses, empty to score every class by its own name.
  SubclassMix(const std::vector<std::string>& model_classes, const std::vector<std::string>& judge_classes,
              const std::string& fine_assets) {
    for (const auto& name : judge_classes) {
      // With a subclass folder, the subclasses "name.*" (a model fine-tuned from a coarse one
      // keeps the coarse rows too), each repeated as often as it has images.
      std::vector<int64_t> slots;
      for (std::size_t i = 0; i < model_classes.size() && !fine_assets.empty(); ++i) {
        if (model_classes[i].rfind(name + ".", 0) != 0) continue;
        slots.insert(slots.end(), images_in(fine_assets + "/" + model_classes[i]), static_cast<int64_t>(i));
      }
      if (slots.empty()) {
        const auto exact = std::find(model_classes.begin(), model_classes.end(), name);
        if (exact == model_classes.end()) {
          throw ddpm::Error("class '" + name + "' is neither a class of the model nor has subclasses '" + name +
                            ".*' there" + (fine_assets.empty() ? " (--fine-assets names their folder)" : ""));
        }
        slots.push_back(exact - model_classes.begin());
      }
      slots_.push_back(std::move(slots));
    }
    for (const auto& name : model_classes) subclasses_ = subclasses_ || name.find('.') != std::string::npos;
  }

  // The model's class for image k (0-based) of `count` images of judge class c: the subclass of
  // the real image at the same relative position (a proportional, deterministic mix).
  int64_t model_class(int64_t c, int64_t k, int64_t count) const {
    const auto& slots = slots_.at(static_cast<std::size_t>(c));
    return slots[static_cast<std::size_t>((2 * k + 1) * static_cast<int64_t>(slots.size()) / (2 * count))];
  }

  bool has_subclasses() const { return subclasses_; }  // any class named CLASS.GROUP

 private:
  // The files the trainer would try to load (every file not hidden; it decodes by content).
  static int64_t images_in(const std::string& dir) {
    std::error_code ec;
    int64_t n = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = f.path().filename().string();
      n += f.is_regular_file() && !name.empty() && name[0] != '.';
    }
    if (ec || n == 0) throw ddpm::Error("--fine-assets: no images in " + dir);
    return n;
  }
  std::vector<std::vector<int64_t>> slots_;  // per judge class
  bool subclasses_ = false;
};

}  // namespace quality
