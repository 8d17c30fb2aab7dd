#pragma once
// What every command shares: exit codes and the exception that carries them, the mapping of
// ABI statuses to exit codes, Ctrl-C handling and progress formatting.
#include <cstdint>
#include <string>
#include <vector>

#include "ddpm_plugin.h"

namespace ddpm_cli {

// 0 ok, 1 user error (the message names the problem), 2 internal error.
constexpr int kExitOk = 0;
constexpr int kExitUser = 1;
constexpr int kExitInternal = 2;

// The sampler names the plugin accepts (ddpm_generate_params.sampler_name), for --sampler.
inline const std::vector<std::string> kSamplerNames = {"ddim", "dpmpp2m", "dpmpp2m_sde", "ddpm", "euler_a"};

// Thrown to leave a command with an exit code and a message.
struct Exit {
  int code;
  std::string message;
};

[[noreturn]] void user_error(const std::string& message);

// Maps a failed ABI call to an exit: the statuses a user can cause are 1, the rest 2.
int exit_code_of(ddpm_status status);

// Throws Exit naming `what`, the plugin's last error and the status, unless status is DDPM_OK.
void check(ddpm_status status, const std::string& what);

// --precision of `sample` and `stream`: its help, and setting it in the plugin ("" keeps the
// plugin's default, auto).
inline const char* const kPrecisionHelp =
    "auto (default: bf16 where the CPU has AVX512-BF16, else float32), float32 or bf16: the "
    "convolutions' number format on the CPU; float32 for images that match across CPUs";
void apply_precision(const std::string& precision);

// --guidance-interval of `sample` and `stream`: its help, and parsing MIN:MAX ("none": guidance
// at every step; "" keeps the plugin's default) into the params' two fields.
inline const char* const kGuidanceIntervalHelp =
    "MIN:MAX: guidance only at noise levels sigma in [MIN, MAX], elsewhere the conditional "
    "prediction alone (default: 0:20 for dpmpp2m_sde, none for the others; 0 for a bound: "
    "none; none: every step)";
void parse_guidance_interval(const std::string& arg, float& min_sigma, float& max_sigma);

// A user error unless `path` exists and is not a folder; `what` names it in the message.
void require_file(const std::string& path, const std::string& what);

// While one lives, Ctrl-C sets the flag read by interrupted() instead of killing the process,
// so that the running job can be cancelled and freed; the default action comes back after.
class SigintCatcher {
 public:
  SigintCatcher();
  ~SigintCatcher();
  SigintCatcher(const SigintCatcher&) = delete;
  SigintCatcher& operator=(const SigintCatcher&) = delete;
};
bool interrupted();

// Progress on stderr: a redrawn bar on a terminal, else one line per step.
bool stderr_is_tty();
std::string progress_bar(int64_t step, int64_t total);  // "[####......]", 30 wide

}  // namespace ddpm_cli
