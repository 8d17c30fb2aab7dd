#include "ddpm/io/asset_folder.h"

#include <algorithm>
#include <cctype>
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

// Well-formed UTF-8 (overlong two-byte forms and bytes past U+10FFFF refused).
bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 0 : (c >= 0xC2 && c <= 0xDF) ? 1 : (c >> 4) == 0xE ? 2 : (c >= 0xF0 && c <= 0xF4) ? 3 : -1;
    if (n < 0 || i + n >= s.size()) return false;
    for (int k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += n + 1;
  }
  return true;
}

// The name a user would type for a class: ASCII case and surrounding spaces ignored.
std::string loose(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t");
  std::string out = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Class names are model metadata (JSON: UTF-8) and what users select classes by; a name that
// cannot be stored, or two that a user cannot tell apart, are refused before any training.
void check_class_names(const std::string& root, const std::vector<fs::path>& dirs) {
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    const std::string name = dirs[i].filename().string();
    if (!valid_utf8(name)) {
      throw Error("class folder '" + dirs[i].string() + "' has a name that is not valid UTF-8: class names " +
                  "are stored in the model file as text; rename the folder");
    }
    if (name.size() > 256) {
      throw Error("class folder name '" + name.substr(0, 40) + "...' is too long: at most 256 bytes");
    }
    if (loose(name) == "none" || name == "-1") {
      throw Error("class folder '" + dirs[i].string() + "': '" + name + "' means 'no class' when choosing a " +
                  "class; rename the folder");
    }
    for (std::size_t j = 0; j < i; ++j) {
      const std::string other = dirs[j].filename().string();
      if (loose(other) == loose(name)) {
        throw Error("class folders '" + other + "' and '" + name + "' in '" + root + "' differ only in case or " +
                    "spaces: users and engines would confuse the two classes; merge or rename one");
      }
    }
  }
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
  check_class_names(root, class_dirs);
  std::vector<std::pair<fs::path, int>> files;
  for (std::size_t c = 0; c < class_dirs.size(); ++c) {
    for (const auto& f : sorted_entries(class_dirs[c], false)) files.emplace_back(f, static_cast<int>(c));
  }
  std::vector<int> decoded(class_dirs.size(), 0);
  std::vector<int> labels;
  for (std::size_t i = 0; i < files.size(); ++i) {
    try {
      out.images.push_back(resize(read_image(files[i].first.string()), options.size,
                                  options.size, options.nearest));
      labels.push_back(files[i].second);
      ++decoded[files[i].second];
    } catch (const Error& e) {
      out.skipped.push_back(files[i].first.string() + ": " + e.what());
    }
    if (options.progress) options.progress(i + 1, files.size());
  }
  // A class folder without one image that decodes is left out (a class with no data would be
  // a class the model cannot draw); the others keep their order.
  std::vector<int> index(class_dirs.size(), -1);
  for (std::size_t c = 0; c < class_dirs.size(); ++c) {
    if (decoded[c] == 0) {
      out.skipped.push_back(class_dirs[c].string() + ": no image in it decodes; the class is left out");
      continue;
    }
    index[c] = static_cast<int>(out.class_names.size());
    out.class_names.push_back(class_dirs[c].filename().string());
  }
  for (int l : labels) out.labels.push_back(index[l]);
  if (out.images.empty()) {
    throw Error("asset folder '" + root + "' holds no image that decodes (" +
                std::to_string(files.size()) + " files in " + std::to_string(class_dirs.size()) +
                " class folders)");
  }
  return out;
}

}  // namespace ddpm::io
