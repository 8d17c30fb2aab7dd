#include "ddpm/precision.h"

#include <atomic>

#include "ddpm/io/error.h"

namespace ddpm {
namespace {

std::atomic<Precision> g_precision{Precision::Float32};

}  // namespace

std::string to_string(Precision p) { return p == Precision::BFloat16 ? "bf16" : "float32"; }

Precision precision_from_string(const std::string& name) {
  if (name == "float32") return Precision::Float32;
  if (name == "bf16") return Precision::BFloat16;
  if (name == "auto") return automatic_precision();
  throw Error("unknown precision '" + name + "': allowed auto, float32, bf16");
}

bool bf16_native() {
#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11 || defined(__clang__))
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

Precision automatic_precision() { return bf16_native() ? Precision::BFloat16 : Precision::Float32; }

void set_inference_precision(Precision p) {
  if (p == Precision::BFloat16 && !bf16_native()) {
    throw Error("precision bf16 needs a CPU that multiplies bfloat16 natively (AVX512-BF16); this one "
                "would emulate it, slower than float32");
  }
  g_precision.store(p);
}

Precision inference_precision() { return g_precision.load(); }

}  // namespace ddpm
