#include "ddpm/io/asset_folder.h"

#include <algorithm>
#include <filesystem>

#include "ddpm/io/error.h"
#include "ddpm/io/png.h"

namespace ddpm::io {
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> sorted_entries(const fs::path& dir, bool folders) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const bool is_dir = e.is_directory(ec);
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;  // hidden files and folders
    if (is_dir == folders) out.push_back(e.path());
  }
  if (ec) throw Error("cannot list folder '" + dir.string() + "': " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

AssetFolder load_asset_folder(const std::string& root, const AssetFolderOptions& options) {
  if (options.size < 1 || options.size > kMaxImageSide) {
    throw Error("image size " + std::to_string(options.size) + " is invalid: allowed 1 to " +
                std::to_string(kMaxImageSide));
  }
  std::error_code ec;
  if (!fs::exists(root, ec)) throw Error("asset folder '" + root + "' does not exist");
  if (!fs::is_directory(root, ec)) throw Error("asset folder '" + root + "' is not a folder");

  AssetFolder out;
  out.root = root;
  const auto class_dirs = sorted_entries(root, true);
  if (class_dirs.empty()) {
    throw Error("asset folder '" + root +
                "' has no class subfolders: put each class's images in a subfolder of it");
  }
  std::vector<std::pair<fs::path, int>> files;
  for (const auto& dir : class_dirs) {
    for (const auto& f : sorted_entries(dir, false)) {
      files.emplace_back(f, static_cast<int>(out.class_names.size()));
    }
    out.class_names.push_back(dir.filename().string());
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    try {
      out.images.push_back(resize(read_image(files[i].first.string()), options.size,
                                  options.size, options.nearest));
      out.labels.push_back(files[i].second);
    } catch (const Error& e) {
      out.skipped.push_back(files[i].first.string() + ": " + e.what());
    }
    if (options.progress) options.progress(i + 1, files.size());
  }
  if (out.images.empty()) {
    throw Error("asset folder '" + root + "' holds no image that decodes (" +
                std::to_string(files.size()) + " files in " + std::to_string(class_dirs.size()) +
                " class folders)");
  }
  return out;
}

}  // namespace ddpm::io
