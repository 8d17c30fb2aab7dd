// ddpm_blend_models: a fine-tune and its base blended in weight space, file to file.
#include "ddpm/fine_tune_blend.h"
#include "ddpm/io/error.h"
#include "ddpm/model_file.h"
#include "ddpm/runtime.h"
#include "internal.h"

using namespace ddpm_plugin;

extern "C" {

DDPM_API ddpm_status ddpm_blend_models(const char* base_path, const char* tuned_path, double strength,
                                       const char* out_path) {
  return guarded(DDPM_ERR_BAD_MODEL, [&] {
    if (!base_path || !tuned_path || !out_path) {
      return fail(DDPM_ERR_INVALID_ARGUMENT, std::string("ddpm_blend_models: ") +
                                                 (!base_path ? "base_path" : !tuned_path ? "tuned_path" : "out_path") +
                                                 " is NULL");
    }
    if (!(strength > 0 && strength <= 2)) {
      return fail(DDPM_ERR_OUT_OF_RANGE, "strength " + ddpm::number_text(strength) +
                                             " is out of range: allowed more than 0 up to 2 (1 = the fine-tune)");
    }
    if (const ddpm_status s = check_model_rewrite({base_path, tuned_path}, out_path); s != DDPM_OK) return s;
    ensure_runtime();
    std::string mismatch;  // two good files that do not belong together: the caller's pairing
    on_own_thread([&] {
      const ddpm::Model base = ddpm::load_model(base_path);
      const ddpm::Model tuned = ddpm::load_model(tuned_path);
      ddpm::Model out;
      try {
        out = ddpm::blend_fine_tune(base, tuned, strength);
      } catch (const ddpm::Error& e) {
        mismatch = e.what();
        return;
      }
      ddpm::save_model(out_path, out.unet, out.info);
    });
    if (!mismatch.empty()) {  // the last error belongs to this (the caller's) thread
      return fail(DDPM_ERR_INVALID_ARGUMENT,
                  std::string("'") + tuned_path + "' is not a fine-tune of '" + base_path + "': " + mismatch);
    }
    log(DDPM_LOG_INFO, std::string("blended '") + tuned_path + "' with '" + base_path + "' at strength " +
                           ddpm::number_text(strength) + " into '" + out_path + "'");
    return DDPM_OK;
  });
}

}  // extern "C"
