#pragma once
// Loads libddpm_plugin with dlopen and resolves the C ABI: the hosts (CLI, studio) never link
// the plugin, exactly as an engine would load it.
#include <string>
#include <vector>

#include "ddpm_plugin.h"

namespace ddpm_host {

#define DDPM_HOST_FUNCTIONS(X)        \
  X(ddpm_abi_version)                \
  X(ddpm_version_string)             \
  X(ddpm_last_error)                 \
  X(ddpm_status_string)              \
  X(ddpm_set_threads)                \
  X(ddpm_set_precision)              \
  X(ddpm_get_precision)              \
  X(ddpm_set_log_callback)           \
  X(ddpm_string_free)                \
  X(ddpm_model_load)                 \
  X(ddpm_model_params_init)          \
  X(ddpm_model_load_ex)              \
  X(ddpm_model_free)                 \
  X(ddpm_model_info_json)            \
  X(ddpm_model_get_shape)            \
  X(ddpm_generate_params_init)       \
  X(ddpm_generate_start)             \
  X(ddpm_job_get_shape)              \
  X(ddpm_job_poll)                   \
  X(ddpm_job_cancel)                 \
  X(ddpm_job_wait)                   \
  X(ddpm_job_result_rgba8)           \
  X(ddpm_job_result_f32)             \
  X(ddpm_job_free)                   \
  X(ddpm_import_params_init)         \
  X(ddpm_import_checkpoint)          \
  X(ddpm_blend_models)               \
  X(ddpm_widen_model)                \
  X(ddpm_convert_model)              \
  X(ddpm_train_params_init)          \
  X(ddpm_train_start)                \
  X(ddpm_train_poll)                 \
  X(ddpm_train_cancel)               \
  X(ddpm_train_wait)                 \
  X(ddpm_train_free)                 \
  X(ddpm_stream_params_init)         \
  X(ddpm_stream_open)                \
  X(ddpm_stream_push_input)          \
  X(ddpm_stream_set_class)           \
  X(ddpm_stream_set_guidance)        \
  X(ddpm_stream_set_seed_path)       \
  X(ddpm_stream_set_blend)           \
  X(ddpm_stream_advance)             \
  X(ddpm_stream_run)                 \
  X(ddpm_stream_pause)               \
  X(ddpm_stream_read_frame)          \
  X(ddpm_stream_read_frame_rgba8)    \
  X(ddpm_stream_read_slots)          \
  X(ddpm_stream_get_stats)           \
  X(ddpm_stream_close)

struct Plugin {
#define DDPM_HOST_DECLARE(name) decltype(&::name) name = nullptr;
  DDPM_HOST_FUNCTIONS(DDPM_HOST_DECLARE)
#undef DDPM_HOST_DECLARE
  void* handle = nullptr;
  std::string path;
};

// The places searched, in order: next to the executable's folder (../plugin in the build
// tree, ../lib and ../<libdir> when installed), then $DDPM_PLUGIN.
std::vector<std::string> plugin_candidates();

// Opens the first candidate that exists. On failure returns false and fills `error` with a
// message naming every place tried, or the ABI mismatch, or the missing symbol.
bool load_plugin(Plugin& plugin, std::string& error);

}  // namespace ddpm_host
