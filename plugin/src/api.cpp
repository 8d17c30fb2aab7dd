// The library-wide part of the C ABI: errors, logging, versions, models.
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <new>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/import.h"
#include "ddpm/io/model_info.h"
#include "ddpm/precision.h"
#include "ddpm/runtime.h"
#include "ddpm/sampler.h"
#include <chrono>

#include "internal.h"

#ifndef DDPM_PLUGIN_VERSION
#define DDPM_PLUGIN_VERSION "0.0.0"
#endif

namespace ddpm_plugin {
namespace {

thread_local std::string t_last_error;

std::mutex g_log_mutex;
ddpm_log_fn g_log_fn = nullptr;
ddpm_log_level g_log_level = DDPM_LOG_WARN;
void* g_log_user = nullptr;

// The first version of ddpm_import_params: up to and including class_count.
constexpr size_t kMinImportParamsSize = offsetof(ddpm_import_params, class_count) + sizeof(int);

// The first (and so far only) version of ddpm_model_params.
constexpr size_t kMinModelParamsSize = offsetof(ddpm_model_params, device) + sizeof(const char*);

void fill_model_defaults(ddpm_model_params& p) {
  std::memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.device = nullptr;  // the CPU
  p.threads = 0;       // the ddpm_set_threads setting
}

// The library's defaults, struct_size = the library's sizeof.
void fill_import_defaults(ddpm_import_params& p) {
  std::memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.class_names = nullptr;
  p.class_count = 0;
  p.image_size = 64;
  p.float16 = 0;
}

std::once_flag g_runtime_once;
std::mutex g_runtime_mutex;
bool g_threads_set = false;
bool g_precision_set = false;  // by ddpm_set_precision; else "auto" at the first model load

}  // namespace

void set_error(const std::string& message) noexcept {
  try {
    t_last_error = message;
  } catch (...) {
    t_last_error.clear();
  }
}

void clear_error() noexcept { t_last_error.clear(); }

ddpm_status fail(ddpm_status status, const std::string& message) noexcept {
  set_error(message);
  return status;
}

ddpm_status status_from_exception(ddpm_status user_error, std::string* message) noexcept {
  ddpm_status status = DDPM_ERR_INTERNAL;
  std::string text;
  try {
    try {
      throw;
    } catch (const ddpm::IoError& e) {
      status = DDPM_ERR_IO;
      text = e.what();
    } catch (const ddpm::Error& e) {
      status = user_error;
      text = e.what();
    } catch (const std::bad_alloc&) {
      status = DDPM_ERR_OUT_OF_MEMORY;
      text = "out of memory";
    } catch (const c10::OutOfMemoryError& e) {  // a GPU's memory (CUDA's allocator throws this)
      status = DDPM_ERR_OUT_OF_MEMORY;
      text = std::string("out of memory: ") + e.what_without_backtrace();
    } catch (const c10::Error& e) {
      text = std::string("LibTorch error: ") + e.what_without_backtrace();
    } catch (const std::exception& e) {
      text = std::string("internal error: ") + e.what();
    } catch (...) {
      text = "internal error: unknown exception";
    }
  } catch (...) {
    status = DDPM_ERR_OUT_OF_MEMORY;
    text.clear();
  }
  if (message) {
    try {
      *message = text;
    } catch (...) {
    }
  } else {
    set_error(text);
  }
  return status;
}

ddpm_status check_class_index(int64_t c, int n) noexcept {
  if (c >= -1 && c < n) return DDPM_OK;
  return fail(DDPM_ERR_OUT_OF_RANGE,
              "class " + std::to_string(c) + " is out of range: allowed -1 (none)" +
                  (n > 0 ? " to " + std::to_string(n - 1) : std::string(" only (the model is unconditional)")));
}

void log(ddpm_log_level level, const std::string& message) noexcept {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  if (g_log_fn && level >= g_log_level) g_log_fn(level, message.c_str(), g_log_user);
}

void WorkerJob::finish(std::unique_lock<std::mutex>&, ddpm_status s, std::string m) {
  status = s;
  message = std::move(m);
  finished = true;
  finished_cv.notify_all();
}

ddpm_status WorkerJob::wait(std::unique_lock<std::mutex>& lock, int timeout_ms, const char* what) {
  if (on_worker_thread()) {
    return fail(DDPM_ERR_INVALID_ARGUMENT, std::string(what) + " called from the job's own callback");
  }
  if (timeout_ms < 0) {
    finished_cv.wait(lock, [&] { return finished; });
  } else if (!finished_cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return finished; })) {
    return fail(DDPM_ERR_TIMEOUT, "the job is still running after " + std::to_string(timeout_ms) + " ms");
  }
  return DDPM_OK;
}

bool WorkerJob::stop(const char* what) {
  if (on_worker_thread()) {
    // Freeing from the job's own callback would join itself: refuse (the job leaks).
    log(DDPM_LOG_ERROR, std::string(what) + " called from the job's own callback: ignored");
    return false;
  }
  cancel.store(true);
  if (worker.joinable()) worker.join();
  return true;
}

ddpm_status check_threads(int threads) noexcept {
  if (threads >= 0 && threads <= 1024) return DDPM_OK;
  return fail(DDPM_ERR_OUT_OF_RANGE, "threads " + std::to_string(threads) +
                                         " is out of range: allowed 0 (the ddpm_set_threads count) to 1024");
}

ddpm::GuidanceInterval guidance_interval(float min_sigma, float max_sigma, ddpm::SamplerKind sampler) {
  const ddpm::GuidanceInterval d = ddpm::default_guidance_interval(sampler);
  return {min_sigma < 0 ? d.min_sigma : min_sigma, max_sigma < 0 ? d.max_sigma : max_sigma};
}

void ensure_runtime() {
  std::lock_guard<std::mutex> lock(g_runtime_mutex);
  if (!g_threads_set) {
    ddpm::init_runtime(0);
    g_threads_set = true;
  }
  if (!g_precision_set) {
    ddpm::set_inference_precision(ddpm::automatic_precision());
    g_precision_set = true;
  }
}

ddpm_status check_input_file(const char* path, const char* what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  const std::string named = std::string(what) + " '" + path + "'";
  if (!fs::exists(st)) return fail(DDPM_ERR_NOT_FOUND, named + " does not exist");
  if (fs::is_directory(st)) return fail(DDPM_ERR_IO, named + " is a directory");
  if (!std::ifstream(path, std::ios::binary)) return fail(DDPM_ERR_IO, named + " cannot be opened for reading");
  return DDPM_OK;
}

ddpm_status check_model_rewrite(std::initializer_list<const char*> inputs, const char* out_path, const char* what) {
  for (const char* path : inputs) {
    if (const ddpm_status s = check_input_file(path, what); s != DDPM_OK) return s;
  }
  try {
    ddpm::io::check_output_path(out_path, "model file");
  } catch (const ddpm::Error& e) {
    return fail(DDPM_ERR_IO, e.what());
  }
  return DDPM_OK;
}

namespace {
// ddpm_model_load and ddpm_model_load_ex (`params` NULL: the defaults); `what` names the call.
ddpm_status load_model(const char* path, const ddpm_model_params* params, ddpm_model** out, const char* what) {
  if (out) *out = nullptr;
  return guarded(DDPM_ERR_BAD_MODEL, [&] {
    if (!path) return fail(DDPM_ERR_INVALID_ARGUMENT, std::string(what) + ": path is NULL");
    if (!out) return fail(DDPM_ERR_INVALID_ARGUMENT, std::string(what) + ": out is NULL");
    ddpm_model_params p;
    fill_model_defaults(p);
    if (params) {
      const ddpm_status s = read_params(*params, kMinModelParamsSize, "ddpm_model_params_init", fill_model_defaults, p);
      if (s != DDPM_OK) return s;
    }
    if (const ddpm_status t = check_threads(p.threads); t != DDPM_OK) return t;
    // The device is the caller's choice, so a bad name or a missing GPU is INVALID_ARGUMENT
    // (the load's own errors are about the file).
    torch::Device device(torch::kCPU);
    try {
      device = ddpm::select_device(p.device && *p.device ? p.device : "cpu");
    } catch (const ddpm::Error& e) {
      return fail(DDPM_ERR_INVALID_ARGUMENT, e.what());
    }
    if (const ddpm_status s = check_input_file(path); s != DDPM_OK) return s;
    ensure_runtime();
    std::shared_ptr<ddpm::Model> model;
    on_own_thread([&] {
      model = std::make_shared<ddpm::Model>(ddpm::load_model(path, device));
      model->unet->eval();  // once here: jobs share the module and only run forward
      for (auto& w : model->unet->parameters()) w.set_requires_grad(false);
    });
    auto handle = std::make_unique<ddpm_model>();
    handle->model = std::move(model);
    handle->threads = p.threads;
    log(DDPM_LOG_INFO, std::string("loaded model '") + path + "' on " + device.str());
    *out = handle.release();
    return DDPM_OK;
  });
}
}  // namespace

}  // namespace ddpm_plugin

using namespace ddpm_plugin;

extern "C" {

DDPM_API int ddpm_abi_version(void) { return DDPM_ABI_VERSION; }

DDPM_API const char* ddpm_version_string(void) { return DDPM_PLUGIN_VERSION; }

DDPM_API const char* ddpm_last_error(void) { return t_last_error.c_str(); }

DDPM_API const char* ddpm_status_string(ddpm_status status) {
  switch (status) {
    case DDPM_OK: return "DDPM_OK";
    case DDPM_ERR_INVALID_ARGUMENT: return "DDPM_ERR_INVALID_ARGUMENT";
    case DDPM_ERR_NOT_FOUND: return "DDPM_ERR_NOT_FOUND";
    case DDPM_ERR_IO: return "DDPM_ERR_IO";
    case DDPM_ERR_BAD_MODEL: return "DDPM_ERR_BAD_MODEL";
    case DDPM_ERR_OUT_OF_RANGE: return "DDPM_ERR_OUT_OF_RANGE";
    case DDPM_ERR_CANCELLED: return "DDPM_ERR_CANCELLED";
    case DDPM_ERR_TIMEOUT: return "DDPM_ERR_TIMEOUT";
    case DDPM_ERR_NOT_READY: return "DDPM_ERR_NOT_READY";
    case DDPM_ERR_BUFFER_TOO_SMALL: return "DDPM_ERR_BUFFER_TOO_SMALL";
    case DDPM_ERR_OUT_OF_MEMORY: return "DDPM_ERR_OUT_OF_MEMORY";
    case DDPM_ERR_INTERNAL: return "DDPM_ERR_INTERNAL";
  }
  return "DDPM_ERR_UNKNOWN";
}

DDPM_API ddpm_status ddpm_set_log_callback(ddpm_log_fn fn, ddpm_log_level min_level,
                                           void* user_data) {
  clear_error();
  if (min_level < DDPM_LOG_DEBUG || min_level > DDPM_LOG_ERROR) {
    return fail(DDPM_ERR_INVALID_ARGUMENT,
                "log level " + std::to_string(int(min_level)) + " is invalid: allowed 0 to 3");
  }
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_log_fn = fn;
  g_log_level = min_level;
  g_log_user = user_data;
  return DDPM_OK;
}

DDPM_API ddpm_status ddpm_set_precision(const char* name) {
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (!name) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_set_precision: name is NULL");
    const ddpm::Precision p = ddpm::precision_from_string(name);  // throws naming the problem
    std::lock_guard<std::mutex> lock(g_runtime_mutex);
    ddpm::set_inference_precision(p);
    g_precision_set = true;
    return DDPM_OK;
  });
}

DDPM_API const char* ddpm_get_precision(void) {
  std::lock_guard<std::mutex> lock(g_runtime_mutex);
  const ddpm::Precision p = g_precision_set ? ddpm::inference_precision() : ddpm::automatic_precision();
  return p == ddpm::Precision::BFloat16 ? "bf16" : "float32";
}

DDPM_API ddpm_status ddpm_set_threads(int threads) {
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (threads < 0 || threads > 1024) {
      return fail(DDPM_ERR_OUT_OF_RANGE,
                  "thread count " + std::to_string(threads) + " is out of range: allowed 0 to 1024");
    }
    std::lock_guard<std::mutex> lock(g_runtime_mutex);
    ddpm::init_runtime(threads);
    g_threads_set = true;
    return DDPM_OK;
  });
}

DDPM_API void ddpm_string_free(char* str) { std::free(str); }

DDPM_API ddpm_status ddpm_model_load(const char* path, ddpm_model** out) {
  return load_model(path, nullptr, out, "ddpm_model_load");
}

DDPM_API ddpm_status ddpm_model_params_init(ddpm_model_params* params, size_t struct_size) {
  return init_params(params, struct_size, kMinModelParamsSize, "ddpm_model_params_init",
                     fill_model_defaults);
}

DDPM_API ddpm_status ddpm_model_load_ex(const char* path, const ddpm_model_params* params,
                                        ddpm_model** out) {
  return load_model(path, params, out, "ddpm_model_load_ex");
}

DDPM_API void ddpm_model_free(ddpm_model* model) { delete model; }

DDPM_API ddpm_status ddpm_model_info_json(const ddpm_model* model, char** out_json) {
  if (out_json) *out_json = nullptr;
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (!model) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_model_info_json: model is NULL");
    if (!out_json) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_model_info_json: out_json is NULL");
    std::string json = ddpm::io::to_json(model->model->info);
    // Append the sampler names to the top-level object.
    const size_t close = json.find_last_of('}');
    if (close == std::string::npos) return fail(DDPM_ERR_INTERNAL, "model description is not a JSON object");
    json.insert(close, ",\n  \"samplers\": [\"ddpm\", \"ddim\", \"dpmpp2m\", \"euler_a\", \"dpmpp2m_sde\"],\n"
                       "  \"device\": \"" + model_device(*model->model).str() + "\"\n");
    char* copy = static_cast<char*>(std::malloc(json.size() + 1));
    if (!copy) return fail(DDPM_ERR_OUT_OF_MEMORY, "out of memory");
    std::memcpy(copy, json.c_str(), json.size() + 1);
    *out_json = copy;
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_model_get_shape(const ddpm_model* model, int* width, int* height,
                                          int* channels, int* num_classes, int* timesteps) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (!model) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_model_get_shape: model is NULL");
    const auto& info = model->model->info;
    if (width) *width = info.unet.image_size;
    if (height) *height = info.unet.image_size;
    if (channels) *channels = info.unet.in_channels;
    if (num_classes) *num_classes = info.unet.num_classes;
    if (timesteps) *timesteps = info.schedule.timesteps;
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_import_params_init(ddpm_import_params* params, size_t struct_size) {
  return init_params(params, struct_size, kMinImportParamsSize, "ddpm_import_params_init",
                     fill_import_defaults);
}

DDPM_API ddpm_status ddpm_import_checkpoint(const char* pt_path, const char* out_path,
                                            const ddpm_import_params* params) {
  return guarded(DDPM_ERR_BAD_MODEL, [&] {
    if (!pt_path) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_import_checkpoint: pt_path is NULL");
    if (!out_path) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_import_checkpoint: out_path is NULL");
    ddpm_import_params p;
    fill_import_defaults(p);
    if (params) {
      const ddpm_status s = read_params(*params, kMinImportParamsSize, "ddpm_import_params_init", fill_import_defaults, p);
      if (s != DDPM_OK) return s;
    }
    if (p.class_count < 0 || p.class_count > 100000) {
      return fail(DDPM_ERR_OUT_OF_RANGE, "class_count " + std::to_string(p.class_count) +
                                             " is out of range: allowed 0 to 100000");
    }
    if (p.class_count > 0 && !p.class_names) {
      return fail(DDPM_ERR_INVALID_ARGUMENT, "class_count is " + std::to_string(p.class_count) +
                                                 " but class_names is NULL");
    }
    if (p.image_size < 8 || p.image_size > 1024 || p.image_size % 8 != 0) {
      return fail(DDPM_ERR_OUT_OF_RANGE, "image_size " + std::to_string(p.image_size) +
                                             " is out of range: allowed 8 to 1024, a multiple of 8");
    }
    ddpm::ImportOptions options;
    options.image_size = p.image_size;
    for (int i = 0; i < p.class_count; ++i) {
      const char* name = p.class_names[i];
      if (!name || !*name) {
        return fail(DDPM_ERR_INVALID_ARGUMENT,
                    "class name " + std::to_string(i) + " is NULL or empty");
      }
      options.class_names.emplace_back(name);
    }
    if (const ddpm_status s = check_model_rewrite({pt_path}, out_path, "checkpoint"); s != DDPM_OK) return s;
    ensure_runtime();
    on_own_thread([&] {
      ddpm::import_to_model_file(pt_path, out_path, options,
                                 p.float16 ? ddpm::WeightFormat::F16 : ddpm::WeightFormat::F32);
    });
    log(DDPM_LOG_INFO, std::string("imported '") + pt_path + "' to '" + out_path + "'");
    return DDPM_OK;
  });
}

}  // extern "C"
