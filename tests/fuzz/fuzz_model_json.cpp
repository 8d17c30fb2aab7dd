// The model description JSON kept in a model file's __metadata__ (also in training
// checkpoints): parsed, validated, and written back unchanged.
#include <cstdint>
#include <string>

#include "ddpm/io/error.h"
#include "ddpm/io/model_info.h"
#include "fuzz_common.h"

using namespace ddpm::io;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  ModelInfo info;
  try {
    info = model_info_from_json(text, "fuzz.json");
  } catch (const ddpm::Error&) {
    return 0;
  }
  info.validate();  // accepted means valid
  const std::string json = to_json(info);
  const ModelInfo back = model_info_from_json(json, "round trip");
  FUZZ_CHECK(to_json(back) == json);
  return 0;
}
