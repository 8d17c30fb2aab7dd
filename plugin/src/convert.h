#pragma once
// Conversions between the C ABI's pixel buffers and the core's tensors, shared by the job and
// stream layers.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "ddpm/io/model_info.h"
#include "ddpm/sampler.h"
#include "ddpm_plugin.h"

namespace ddpm_plugin {

// Both run on callers' threads (an engine's), so they are plain loops: a LibTorch operation
// there would start an OpenMP team whose idle thread spins against the plugin's own workers.
// [B, C, H, W] in [-1, 1] -> BHWC floats in [0, 1].
std::vector<float> to_frame(const torch::Tensor& x);
// [B, C, H, W] in [-1, 1] -> BHW RGBA bytes (gray and RGB expanded, alpha 255).
std::vector<uint8_t> to_rgba8(const torch::Tensor& x);
// A caller's RGBA image (float32 in [0, 1] or bytes, exactly one of them non-NULL), h x w,
// -> [1, channels, h, w] in [-1, 1] for a model with `channels`.
torch::Tensor rgba_input(const float* f32, const uint8_t* bytes, int64_t w, int64_t h, int channels);
// A ddpm_sampler value or name (name wins when not NULL); throws ddpm::Error on unknown ones.
// DDPM_SAMPLER_AUTO: a distilled model's own sampler, else `otherwise`.
ddpm::SamplerKind sampler_kind(int sampler, const char* name, const ddpm::io::ModelInfo& info,
                               ddpm::SamplerKind otherwise);

}  // namespace ddpm_plugin
