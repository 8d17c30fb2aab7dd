#include "convert.h"

#include <algorithm>
#include <cmath>

#include "ddpm/io/error.h"

namespace ddpm_plugin {

namespace {

// CPU float32 tensors come as they are (a CUDA result is copied): the loops below do the rest
// (convert.h says why; tests/bench/NOTES.md measured it).
torch::Tensor on_cpu(const torch::Tensor& x) { return x.detach().to(torch::kCPU, torch::kFloat32).contiguous(); }

// Clamped to [-1, 1]; a NaN becomes -1.
float clamp_unit(float v) { return std::min(1.0f, std::max(-1.0f, v)); }

}  // namespace

std::vector<float> to_frame(const torch::Tensor& images) {
  const torch::Tensor x = on_cpu(images);
  const int64_t b = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  const float* src = x.data_ptr<float>();
  std::vector<float> out(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t k = 0; k < c; ++k) {
      const float* plane = src + (i * c + k) * hw;
      float* dst = out.data() + i * hw * c + k;
      for (int64_t p = 0; p < hw; ++p) dst[p * c] = (clamp_unit(plane[p]) + 1.0f) * 0.5f;
    }
  }
  return out;
}

std::vector<uint8_t> to_rgba8(const torch::Tensor& images) {
  const torch::Tensor x = on_cpu(images);
  const int64_t b = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  if (c != 1 && c != 3 && c != 4) throw ddpm::Error("cannot show " + std::to_string(c) + "-channel images as RGBA");
  const float* src = x.data_ptr<float>();
  std::vector<uint8_t> out(static_cast<size_t>(b * hw * 4), 255);  // alpha 255 unless the model has it
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t k = 0; k < 4; ++k) {
      if (k == 3 && c < 4) break;
      // Gray fills red, green and blue; nearbyint rounds half to even, as torch::round does.
      const float* plane = src + (i * c + (c == 1 ? 0 : k)) * hw;
      uint8_t* dst = out.data() + i * hw * 4 + k;
      for (int64_t p = 0; p < hw; ++p) {
        dst[p * 4] = static_cast<uint8_t>(std::nearbyint((clamp_unit(plane[p]) + 1.0f) * 127.5f));
      }
    }
  }
  return out;
}

torch::Tensor rgba_input(const float* f32, const uint8_t* bytes, int64_t w, int64_t h, int channels) {
  torch::Tensor rgba;
  if (f32) {
    rgba = torch::from_blob(const_cast<float*>(f32), {1, h, w, 4}, torch::kFloat32).clone();
  } else {
    rgba = torch::from_blob(const_cast<uint8_t*>(bytes), {1, h, w, 4}, torch::kUInt8)
               .to(torch::kFloat32)
               .div(255);
  }
  torch::Tensor x = rgba.permute({0, 3, 1, 2}).clamp(0, 1);
  if (channels == 1) {
    x = (0.299 * x.select(1, 0) + 0.587 * x.select(1, 1) + 0.114 * x.select(1, 2)).unsqueeze(1);
  } else if (channels == 3) {
    x = x.slice(1, 0, 3);
  }
  return (x * 2 - 1).contiguous();
}

ddpm::SamplerKind sampler_kind(int sampler, const char* name, const ddpm::io::ModelInfo& info,
                               ddpm::SamplerKind otherwise) {
  if (name) return ddpm::sampler_from_string(name);  // throws naming the allowed ones
  switch (sampler) {
    case DDPM_SAMPLER_AUTO: return info.distilled() ? ddpm::sampler_from_string(info.distilled_sampler) : otherwise;
    case DDPM_SAMPLER_DDPM: return ddpm::SamplerKind::DDPM;
    case DDPM_SAMPLER_DDIM: return ddpm::SamplerKind::DDIM;
    case DDPM_SAMPLER_DPMPP2M: return ddpm::SamplerKind::DPMSolverPP2M;
    case DDPM_SAMPLER_EULER_A: return ddpm::SamplerKind::EulerAncestral;
    case DDPM_SAMPLER_DPMPP2M_SDE: return ddpm::SamplerKind::DPMSolverPP2MSDE;
    default:
      throw ddpm::Error("sampler " + std::to_string(sampler) +
                        " is unknown: allowed -1 (auto), 0 (ddpm), 1 (ddim), 2 (dpmpp2m), 3 (euler_a), 4 (dpmpp2m_sde)");
  }
}

}  // namespace ddpm_plugin
