#pragma once
// The one exception type of the project. Every message names the thing that was wrong
// (a path, a field, a value and its allowed range), because it ends up in front of a user.
#include <stdexcept>
#include <string>

namespace ddpm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ddpm
