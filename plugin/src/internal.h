#pragma once
// Shared between the plugin's translation units (never installed; may include LibTorch).
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ddpm/model_file.h"
#include "ddpm/sampler.h"
#include "ddpm_plugin.h"

struct ddpm_model {
  std::shared_ptr<const ddpm::Model> model;
  int threads = 0;  // ddpm_model_params.threads: for jobs and streams that name none
};

namespace ddpm_plugin {

// Where a model's jobs and streams run (ddpm_model_load_ex's device).
inline torch::Device model_device(const ddpm::Model& m) { return m.unet->parameters().front().device(); }

// The calling thread's ddpm_last_error().
void set_error(const std::string& message) noexcept;
void clear_error() noexcept;
// Sets the message and returns `status`.
ddpm_status fail(ddpm_status status, const std::string& message) noexcept;
// DDPM_OK when `path` names a readable file; else NOT_FOUND or IO (set as the last error),
// naming it `what`.
ddpm_status check_input_file(const char* path, const char* what = "model file");
// What every call that writes one model file from others checks first: each input a readable
// file (check_input_file, naming it `what`), and the output's folder there and writable (IO
// otherwise).
ddpm_status check_model_rewrite(std::initializer_list<const char*> inputs, const char* out_path,
                                const char* what = "model file");
// Inside a catch block: maps the exception in flight to a status (ddpm::Error becomes
// `user_error`), fills `message` (or the thread's last error when message is null).
ddpm_status status_from_exception(ddpm_status user_error, std::string* message = nullptr) noexcept;

void log(ddpm_log_level level, const std::string& message) noexcept;
// OK, or OUT_OF_RANGE with the message naming the allowed classes (-1 is none).
ddpm_status check_class_index(int64_t class_index, int num_classes) noexcept;
void ensure_runtime();
// OK, or OUT_OF_RANGE naming the allowed per-job thread counts (0: the process-wide count).
ddpm_status check_threads(int threads) noexcept;
// A job's or stream's guidance interval: a negative bound is the sampler's default
// (default_guidance_interval); the core checks the others.
ddpm::GuidanceInterval guidance_interval(float min_sigma, float max_sigma, ddpm::SamplerKind sampler);

// Runs `body` on a short-lived thread of the plugin's own and waits; its exception is rethrown
// here. LibTorch's OpenMP keeps a team of threads for every thread that ever ran parallel work,
// and once the process holds more of them than cores, OpenMP stops spinning between parallel
// regions: measured, every later job then ran 15-20% slower. Calls that do heavy LibTorch work
// on the caller's thread (model load, import) therefore run here, and the team goes with the
// thread.
template <class F>
void on_own_thread(F&& body) {
  std::exception_ptr error;
  std::thread([&] {
    try {
      body();
    } catch (...) {
      error = std::current_exception();
    }
  }).join();
  if (error) std::rethrow_exception(error);
}

// What generation and training jobs share: a worker thread, a cancel flag that is never
// cleared, and a finished signal with the job's status.
struct WorkerJob {
  std::atomic<bool> cancel{false};

  std::mutex mutex;  // guards the fields below and those of the derived job
  std::condition_variable finished_cv;
  bool finished = false;
  ddpm_status status = DDPM_OK;
  std::string message;

  std::thread worker;
  std::thread::id worker_id;

  bool on_worker_thread() const { return std::this_thread::get_id() == worker_id; }
  // Under `lock`: marks the job finished with a status and wakes the waiters.
  void finish(std::unique_lock<std::mutex>& lock, ddpm_status s, std::string m);
  // Waits until finished (timeout_ms < 0: forever). DDPM_OK when finished, DDPM_ERR_TIMEOUT,
  // or DDPM_ERR_INVALID_ARGUMENT from the job's own callback. `what` names the call.
  ddpm_status wait(std::unique_lock<std::mutex>& lock, int timeout_ms, const char* what);
  // Cancels and joins the worker; false (logged, the job leaks) from the job's own callback.
  bool stop(const char* what);
};

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

// The largest struct_size any *_params struct may claim (a caller built against a newer header).
constexpr size_t kMaxParamsStructSize = 4096;

// The body of the ddpm_*_params_init functions: writes exactly `struct_size` bytes at `params`,
// the library's defaults (from `fill`, on a zeroed struct) for what fits, zeros past the
// library's own struct, and sets params->struct_size. `min_size` is the oldest published
// struct's size; `what` names the function in messages.
template <class Params>
ddpm_status init_params(Params* params, size_t struct_size, size_t min_size, const char* what,
                        void (*fill)(Params&)) noexcept {
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (!params) return fail(DDPM_ERR_INVALID_ARGUMENT, std::string(what) + ": params is NULL");
    if (struct_size < min_size || struct_size > kMaxParamsStructSize) {
      return fail(DDPM_ERR_INVALID_ARGUMENT,
                  std::string(what) + ": struct_size " + std::to_string(struct_size) +
                      " is invalid: allowed " + std::to_string(min_size) + " to " +
                      std::to_string(kMaxParamsStructSize) + " (this library's struct is " +
                      std::to_string(sizeof(Params)) + " bytes)");
    }
    Params defaults;
    std::memset(&defaults, 0, sizeof defaults);
    fill(defaults);
    defaults.struct_size = struct_size;
    unsigned char* out = reinterpret_cast<unsigned char*>(params);
    const size_t known = std::min(struct_size, sizeof defaults);
    std::memcpy(out, &defaults, known);
    if (struct_size > known) std::memset(out + known, 0, struct_size - known);
    return DDPM_OK;
  });
}

// What the calls that take a *_params struct read: the library's defaults (from `fill`) under
// the caller's first struct_size bytes (an older, smaller struct keeps the defaults of the
// fields it lacks; a newer one's extra fields are ignored), into `p`; INVALID_ARGUMENT naming a
// struct_size below `min_size` (the oldest published struct) or above kMaxParamsStructSize.
// `init_name` is the init function the message points to.
template <class Params>
ddpm_status read_params(const Params& given, size_t min_size, const char* init_name, void (*fill)(Params&),
                        Params& p) {
  if (given.struct_size < min_size || given.struct_size > kMaxParamsStructSize) {
    return fail(DDPM_ERR_INVALID_ARGUMENT, "params.struct_size " + std::to_string(given.struct_size) +
                                               " is invalid: allowed " + std::to_string(min_size) + " to " +
                                               std::to_string(kMaxParamsStructSize) + " (use " + init_name + ")");
  }
  fill(p);
  std::memcpy(&p, &given, std::min(given.struct_size, sizeof p));
  return DDPM_OK;
}
}  // namespace ddpm_plugin
