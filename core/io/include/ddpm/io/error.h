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

// An input/output failure outside the user's values: a connection lost, a peer gone (the C ABI
// reports it as DDPM_ERR_IO).
class IoError : public Error {
 public:
  using Error::Error;
};

}  // namespace ddpm
