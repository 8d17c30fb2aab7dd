#include "clock_text.h"

#include <cmath>
#include <cstdio>

namespace ddpm_host {

std::string clock_text(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

}  // namespace ddpm_host
