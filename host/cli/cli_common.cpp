#include "cli_common.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

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

void parse_guidance_interval(const std::string& arg, float& min_sigma, float& max_sigma) {
  if (arg.empty()) return;
  if (arg == "none") {
    min_sigma = max_sigma = 0.0f;
    return;
  }
  const auto colon = arg.find(':');
  try {
    size_t used_min = 0, used_max = 0;
    if (colon == std::string::npos) throw std::invalid_argument("no colon");
    const std::string lo = arg.substr(0, colon), hi = arg.substr(colon + 1);
    min_sigma = std::stof(lo, &used_min);
    max_sigma = std::stof(hi, &used_max);
    if (used_min != lo.size() || used_max != hi.size()) throw std::invalid_argument("trailing text");
  } catch (const std::exception&) {
    user_error("--guidance-interval " + arg + " is invalid: give MIN:MAX (e.g. 0.2:20) or none");
  }
  // The plugin checks the values (negative, not finite, MAX below MIN) and names them.
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
