#include "default_model.h"

#include <cstdlib>
#include <filesystem>

namespace ddpm_host {
namespace fs = std::filesystem;

std::string default_model_path() {
  if (const char* env = std::getenv("DDPM_MODEL"); env && *env) return env;
  const fs::path rel = fs::path("emoji32") / "model.safetensors";
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / DDPM_INSTALL_DATADIR / "assets" / rel;
    if (fs::is_regular_file(installed, ec)) return installed.string();
  }
  return (fs::path(DDPM_SOURCE_ASSETS) / rel).string();
}

}  // namespace ddpm_host
