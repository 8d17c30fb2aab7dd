#pragma once
// Shared between the plugin's translation units (never installed; may include LibTorch).
#include <torch/torch.h>

#include <memory>
#include <string>

#include "ddpm/model_file.h"
#include "ddpm_plugin.h"

struct ddpm_model {
  std::shared_ptr<const ddpm::Model> model;
};

namespace ddpm_plugin {

// The calling thread's ddpm_last_error().
void set_error(const std::string& message) noexcept;
void clear_error() noexcept;
// Sets the message and returns `status`.
ddpm_status fail(ddpm_status status, const std::string& message) noexcept;
// Inside a catch block: maps the exception in flight to a status (ddpm::Error becomes
// `user_error`), fills `message` (or the thread's last error when message is null).
ddpm_status status_from_exception(ddpm_status user_error, std::string* message = nullptr) noexcept;

void log(ddpm_log_level level, const std::string& message) noexcept;
void ensure_runtime();

}  // namespace ddpm_plugin

namespace ddpm_plugin {
// Runs an API body: nothing escapes, the last error is cleared first.
template <class F>
ddpm_status guarded(ddpm_status user_error, F&& body) noexcept {
  try {
    clear_error();
    return body();
  } catch (...) {
    return status_from_exception(user_error);
  }
}
}  // namespace ddpm_plugin
