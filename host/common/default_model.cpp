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
  // Relative to the working folder when inside it (a source checkout run from its root): the
  // studio shows this path, and screenshots should not carry the machine's folders.
  const fs::path source = fs::path(DDPM_SOURCE_ASSETS) / rel;
  const fs::path near = fs::proximate(source, fs::current_path(ec), ec);
  if (!ec && !near.empty() && *near.begin() != "..") return near.string();
  return source.string();
}

}  // namespace ddpm_host
