#include "cli_common.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "loaded_plugin.h"

namespace ddpm_cli {
namespace fs = std::filesystem;

namespace {
std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }
}  // namespace

[[noreturn]] void user_error(const std::string& message) { throw Exit{kExitUser, message}; }

int exit_code_of(ddpm_status status) {
  switch (status) {
    case DDPM_OK:
      return kExitOk;
    case DDPM_ERR_INVALID_ARGUMENT:
    case DDPM_ERR_NOT_FOUND:
    case DDPM_ERR_IO:
    case DDPM_ERR_BAD_MODEL:
    case DDPM_ERR_OUT_OF_RANGE:
    case DDPM_ERR_CANCELLED:
      return kExitUser;
    default:
      return kExitInternal;
  }
}

void check(ddpm_status status, const std::string& what) {
  if (status == DDPM_OK) return;
  throw Exit{exit_code_of(status), what + ": " + g_plugin.ddpm_last_error() + " (" +
                                       g_plugin.ddpm_status_string(status) + ")"};
}

void apply_precision(const std::string& precision) {
  if (!precision.empty()) check(g_plugin.ddpm_set_precision(precision.c_str()), "--precision");
}

void require_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (!fs::exists(st)) user_error(what + " '" + path + "' does not exist");
  if (fs::is_directory(st)) user_error(what + " '" + path + "' is a directory, not a file");
}

SigintCatcher::SigintCatcher() { std::signal(SIGINT, on_sigint); }
SigintCatcher::~SigintCatcher() { std::signal(SIGINT, SIG_DFL); }
bool interrupted() { return g_interrupted.load(); }

bool stderr_is_tty() { return isatty(fileno(stderr)) != 0; }

std::string progress_bar(int64_t step, int64_t total) {
  const int width = 30;
  const int filled = total > 0 ? static_cast<int>(step * width / total) : width;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(width - filled), '.');
  return "[" + bar + "]";
}

}  // namespace ddpm_cli
