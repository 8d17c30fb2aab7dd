#include "class_lookup.h"

#include <cerrno>
#include <cstdlib>

namespace ddpm_host {

int find_class(const std::vector<std::string>& names, const std::string& arg, std::string& error) {
  if (arg.empty() || arg == "none" || arg == "-1") return -1;
  const int n = static_cast<int>(names.size());
  for (int i = 0; i < n; ++i) {
    if (names[i] == arg) return i;
  }
  if (n == 0) {
    error = "'" + arg + "': the model is unconditional (it has no classes)";
    return -2;
  }
  std::string known;
  for (int i = 0; i < n; ++i) known += (i ? ", " : "") + std::to_string(i) + "=" + names[i];
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(arg.c_str(), &end, 10);
  if (end != arg.c_str() && *end == '\0') {
    if (errno == 0 && v >= 0 && v < n) return static_cast<int>(v);
    error = arg + " is out of range: allowed 0 to " + std::to_string(n - 1) + " (" + known + ")";
    return -2;
  }
  error = "'" + arg + "' is not a class of this model; known classes: " + known;
  return -2;
}

}  // namespace ddpm_host
