#pragma once
// The number format of the convolutions in CPU inference (training and CUDA are unaffected).
#include <string>

namespace ddpm {

enum class Precision { Float32, BFloat16 };
std::string to_string(Precision precision);  // "float32", "bf16"
// "float32", "bf16", or "auto" (automatic_precision()); throws ddpm::Error naming all three.
Precision precision_from_string(const std::string& name);

// Whether this CPU multiplies bfloat16 natively (AVX512-BF16): elsewhere oneDNN would emulate
// it, slower than float32, so bf16 is refused there.
bool bf16_native();

// What "auto" means: bf16 where bf16_native(), float32 elsewhere. The plugin's default, since
// bf16 there scores the same on the quality bench at 1.2-1.7x the speed (tests/bench/NOTES.md);
// the core's own default stays float32, which its tests' closed forms and references assume.
Precision automatic_precision();

// Process-wide; float32 until set. With bf16 the 3x3 convolutions take bfloat16 inputs and
// weights and accumulate in float32; everything else (norms, attention, the sampler) stays
// float32. Measured on the default model (tests/bench/NOTES.md): the same scores on the
// quality yardstick, 1.2-1.5x the steps per second. An image depends on the precision, not on
// its batch; two intra-op threads on one forward split oneDNN's bf16 sums differently (~1e-2
// of the output's scale), which the plugin's small models never do (split_forward.h: one
// thread a part). Throws ddpm::Error for bf16 where bf16_native() is false.
void set_inference_precision(Precision precision);
Precision inference_precision();

}  // namespace ddpm
