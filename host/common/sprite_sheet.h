#pragma once
// A sprite sheet for engines: the images packed in a grid without padding, and a JSON atlas
// beside it naming each frame's rectangle. Shared by the CLI and the studio.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ddpm/io/image.h"

namespace ddpm_host {

struct SheetFrame {
  std::string name;
  std::string class_name;  // empty: no class
  unsigned long long seed = 0;
};

// Writes `sheet_path` (PNG) and the atlas at the same path with the extension .json, both
// atomically; `meta` (model, sampler, steps...) is copied into the atlas. The images must
// share one size. Returns the atlas path. Throws ddpm::Error naming the file on failure.
std::string write_sprite_sheet(const std::string& sheet_path, const std::vector<ddpm::io::Image>& images,
                               const std::vector<SheetFrame>& frames, const nlohmann::json& meta);

// Columns of a near-square grid of n images.
int grid_columns(int n);

}  // namespace ddpm_host
