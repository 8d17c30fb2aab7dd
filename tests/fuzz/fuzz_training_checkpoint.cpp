// Training checkpoints (core/src/training_checkpoint.cpp): a safetensors file whose metadata
// holds kind = "training-checkpoint", the model description, the optimizer settings as JSON
// and the trainer's options as opaque JSON; tensors model.*, ema.*, optim.*.{step,exp_avg,
// exp_avg_sq,max_exp_avg_sq} and rng.cpu. This target runs every torch-free step of
// load_training_checkpoint, in its order, with the same JSON accessors.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "ddpm/io/error.h"
#include "ddpm/io/model_info.h"
#include "ddpm/io/safetensors.h"
#include "fuzz_common.h"

using namespace ddpm::io;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const SafetensorsView view = parse_safetensors(data, size, "fuzz.ckpt");
    const auto kind = view.metadata.find("kind");
    if (kind == view.metadata.end() || kind->second != "training-checkpoint") return 0;
    const ModelInfo info = model_info_from_metadata(view.metadata, "fuzz.ckpt");
    info.validate();
    const auto opt = view.metadata.find("optimizer");
    if (opt == view.metadata.end()) return 0;
    try {
      const auto o = nlohmann::json::parse(opt->second);
      volatile double sum = o.at("lr").get<double>() + o.at("beta1").get<double>() +
                            o.at("beta2").get<double>() + o.at("eps").get<double>() +
                            o.at("weight_decay").get<double>();
      volatile bool amsgrad = o.at("amsgrad").get<bool>();
      (void)sum;
      (void)amsgrad;
    } catch (const nlohmann::json::exception&) {
      return 0;  // core turns these into "optimizer settings are missing or malformed"
    } catch (const std::out_of_range&) {
      return 0;
    }
    // The tensors LibTorch would copy: each must lie inside the input.
    for (const char* name : {"rng.cpu"}) {
      if (const TensorInfo* t = view.find(name)) touch(view.bytes_of(*t), t->end - t->begin);
    }
    for (const auto& t : view.tensors) {
      FUZZ_CHECK(view.bytes_of(t) + (t.end - t.begin) <= data + size);
      if (t.name.rfind("optim.", 0) == 0 && t.name.size() > 5 &&
          t.name.compare(t.name.size() - 5, 5, ".step") == 0) {
        touch(view.bytes_of(t), t.end - t.begin);
      }
    }
  } catch (const ddpm::Error&) {
  }
  return 0;
}
