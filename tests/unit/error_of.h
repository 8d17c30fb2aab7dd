#pragma once
// The message of the ddpm::Error that `f` throws, or "no error": tests assert on what a user
// would read.
#include <functional>
#include <string>

#include "ddpm/io/error.h"

namespace ddpm::testing {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ddpm::Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace ddpm::testing
