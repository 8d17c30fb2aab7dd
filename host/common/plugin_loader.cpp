#include "plugin_loader.h"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#ifndef DDPM_INSTALL_LIBDIR
#define DDPM_INSTALL_LIBDIR "lib"
#endif

namespace ddpm_host {
namespace fs = std::filesystem;

namespace {
fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}
}  // namespace

std::vector<std::string> plugin_candidates() {
  std::vector<std::string> out;
  const fs::path dir = executable_dir();
  if (!dir.empty()) {
    const fs::path up = dir.parent_path();
    for (const char* sub : {"plugin", "lib", DDPM_INSTALL_LIBDIR}) {
      for (const char* name : {"libddpm_plugin.so", "libddpm_plugin.so.1"}) {
        const std::string p = (up / sub / name).string();
        bool seen = false;
        for (const auto& q : out) seen = seen || q == p;
        if (!seen) out.push_back(p);
      }
    }
  }
  if (const char* env = std::getenv("DDPM_PLUGIN"); env && *env) out.emplace_back(env);
  return out;
}

bool load_plugin(Plugin& plugin, std::string& error) {
  const std::vector<std::string> candidates = plugin_candidates();
  std::string path;
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec)) {
      path = c;
      break;
    }
  }
  if (path.empty()) {
    error = "cannot find the plugin library libddpm_plugin.so; looked in:";
    for (const auto& c : candidates) error += "\n  " + c;
    if (!std::getenv("DDPM_PLUGIN")) error += "\nset DDPM_PLUGIN to the library's path";
    else error += " (from DDPM_PLUGIN)";
    return false;
  }
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = dlerror();
    error = "cannot load the plugin library '" + path + "': " + (e ? e : "unknown error");
    return false;
  }
#define DDPM_HOST_RESOLVE(name)                                                            \
  plugin.name = reinterpret_cast<decltype(plugin.name)>(dlsym(handle, #name));            \
  if (!plugin.name) {                                                                     \
    error = "the plugin library '" + path + "' lacks the function " #name                 \
            " (an older plugin?)";                                                        \
    dlclose(handle);                                                                      \
    return false;                                                                         \
  }
  DDPM_HOST_RESOLVE(ddpm_abi_version)
  const int abi = plugin.ddpm_abi_version();
  if (abi != DDPM_ABI_VERSION) {
    error = "the plugin library '" + path + "' has ABI version " + std::to_string(abi) +
            " but this program was built for ABI version " + std::to_string(DDPM_ABI_VERSION);
    dlclose(handle);
    return false;
  }
  DDPM_HOST_FUNCTIONS(DDPM_HOST_RESOLVE)
#undef DDPM_HOST_RESOLVE
  plugin.handle = handle;
  plugin.path = path;
  return true;
}

}  // namespace ddpm_host
