#pragma once
// Durations for progress displays (ETA), shared by the CLI and the studio.
#include <string>

namespace ddpm_host {

// "m:ss" or "h:mm:ss"; "?" when unknown (negative, NaN or absurdly large).
std::string clock_text(double seconds);

}  // namespace ddpm_host
