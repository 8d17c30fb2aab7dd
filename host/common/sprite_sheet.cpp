#include "sprite_sheet.h"

#include <cmath>
#include <filesystem>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/io/png.h"

namespace ddpm_host {

int grid_columns(int n) { return std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))))); }

std::string write_sprite_sheet(const std::string& sheet_path, const std::vector<ddpm::io::Image>& images,
                               const std::vector<SheetFrame>& frames, const nlohmann::json& meta) {
  if (images.empty()) throw ddpm::Error("sprite sheet '" + sheet_path + "': no images to write");
  if (frames.size() != images.size()) {
    throw ddpm::Error("sprite sheet '" + sheet_path + "': " + std::to_string(frames.size()) +
                      " frame names for " + std::to_string(images.size()) + " images");
  }
  const int cols = grid_columns(static_cast<int>(images.size()));
  const ddpm::io::Image sheet = ddpm::io::make_grid(images, cols, 0);
  const int w = images[0].width, h = images[0].height;

  nlohmann::json atlas = meta;
  atlas["image"] = std::filesystem::path(sheet_path).filename().string();
  atlas["width"] = sheet.width;
  atlas["height"] = sheet.height;
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < frames.size(); ++i) {
    const int x = static_cast<int>(i) % cols * w, y = static_cast<int>(i) / cols * h;
    list.push_back({{"name", frames[i].name},
                    {"class", frames[i].class_name.empty() ? nlohmann::json(nullptr)
                                                           : nlohmann::json(frames[i].class_name)},
                    {"seed", frames[i].seed},
                    {"x", x},
                    {"y", y},
                    {"w", w},
                    {"h", h}});
  }
  atlas["frames"] = list;
  const std::string atlas_path = std::filesystem::path(sheet_path).replace_extension(".json").string();
  ddpm::io::write_png(sheet_path, sheet);
  const std::string text = atlas.dump(2) + "\n";
  ddpm::io::write_file_atomic(atlas_path, text.data(), text.size());
  return atlas_path;
}

}  // namespace ddpm_host
