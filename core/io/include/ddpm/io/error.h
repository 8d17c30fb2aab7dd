#pragma once
// The one exception type of the project. Every message names the thing that was wrong
// (a path, a field, a value and its allowed range), because it ends up in front of a user.
#include <sstream>
#include <stdexcept>
#include <string>

namespace ddpm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A number as a message shows it: 0.5, 1e+300, nan (not std::to_string's 0.500000).
inline std::string number_text(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

// An input/output failure outside the user's values: a connection lost, a peer gone (the C ABI
// reports it as DDPM_ERR_IO).
class IoError : public Error {
 public:
  using Error::Error;
};

}  // namespace ddpm
