// Model files written from another: ddpm_widen_model (twice the width, the same images) and
// ddpm_convert_model (the same weights stored in float16 or float32).
#include "ddpm/io/error.h"
#include "ddpm/model_file.h"
#include "ddpm/runtime.h"
#include "ddpm/widen.h"
#include "internal.h"

using namespace ddpm_plugin;

namespace {

ddpm_status check_paths(const char* function, const char* model_path, const char* out_path) {
  if (!model_path || !out_path) {
    return fail(DDPM_ERR_INVALID_ARGUMENT,
                std::string(function) + ": " + (!model_path ? "model_path" : "out_path") + " is NULL");
  }
  return check_model_rewrite({model_path}, out_path);
}

}  // namespace

extern "C" {

DDPM_API ddpm_status ddpm_widen_model(const char* model_path, uint64_t seed, const char* out_path) {
  return guarded(DDPM_ERR_BAD_MODEL, [&] {
    if (const ddpm_status s = check_paths("ddpm_widen_model", model_path, out_path); s != DDPM_OK) return s;
    ensure_runtime();
    std::string too_wide;
    int64_t before = 0, after = 0;
    on_own_thread([&] {
      const ddpm::Model model = ddpm::load_model(model_path);
      ddpm::Model wide;
      try {
        wide = ddpm::widen_model(model, seed);
      } catch (const ddpm::Error& e) {  // a good file whose doubled width is past the limits
        too_wide = e.what();
        return;
      }
      ddpm::save_model(out_path, wide.unet, wide.info);
      before = model.unet->parameter_count();
      after = wide.unet->parameter_count();
    });
    if (!too_wide.empty()) {
      return fail(DDPM_ERR_OUT_OF_RANGE, std::string("cannot widen '") + model_path + "': " + too_wide);
    }
    log(DDPM_LOG_INFO, std::string("widened '") + model_path + "' into '" + out_path + "': " +
                           std::to_string(before) + " -> " + std::to_string(after) + " parameters");
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_convert_model(const char* model_path, int float16, const char* out_path) {
  return guarded(DDPM_ERR_BAD_MODEL, [&] {
    if (const ddpm_status s = check_paths("ddpm_convert_model", model_path, out_path); s != DDPM_OK) return s;
    ensure_runtime();
    on_own_thread([&] {
      ddpm::Model model = ddpm::load_model(model_path);
      ddpm::save_model(out_path, model.unet, model.info, float16 ? ddpm::WeightFormat::F16 : ddpm::WeightFormat::F32);
    });
    log(DDPM_LOG_INFO, std::string("wrote '") + model_path + "' as '" + out_path + "' in " +
                           (float16 ? "float16" : "float32"));
    return DDPM_OK;
  });
}

}  // extern "C"
