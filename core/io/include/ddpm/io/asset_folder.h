#pragma once
// An asset folder: one subfolder per class (sorted by name; the names are the class names),
// images inside. Everything is decoded once into memory; these sets are small.
#include <functional>
#include <string>
#include <vector>

#include "ddpm/io/image.h"

namespace ddpm::io {

struct AssetFolder {
  std::string root;
  std::vector<std::string> class_names;
  std::vector<Image> images;  // resized to the requested size, channels as decoded
  std::vector<int> labels;    // class index per image
  std::vector<std::string> skipped;  // "file: reason", one line per file that failed
};

struct AssetFolderOptions {
  int size = 32;         // square side every image is resized to
  bool nearest = false;  // nearest-neighbour resizing (pixel art)
  // Called after each file with (files done, files in all).
  std::function<void(std::size_t, std::size_t)> progress;
};

// Throws ddpm::Error naming the folder when it does not exist, is not a folder, has no
// class subfolders, holds no image that decodes, or has a class folder whose name is not
// valid UTF-8, longer than 256 bytes, "none" or "-1" (they mean "no class"), or equal to
// another's but for ASCII case and surrounding spaces. A class folder with no image that
// decodes is left out of class_names, with a line in `skipped`.
AssetFolder load_asset_folder(const std::string& root, const AssetFolderOptions& options = {});

}  // namespace ddpm::io
