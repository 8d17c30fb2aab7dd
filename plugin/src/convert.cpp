#include "convert.h"

#include "ddpm/io/error.h"

namespace ddpm_plugin {

std::vector<float> to_frame(const torch::Tensor& x) {
  const torch::Tensor f = x.detach()
                              .to(torch::kCPU, torch::kFloat32)
                              .clamp(-1, 1)
                              .add(1)
                              .mul(0.5)
                              .permute({0, 2, 3, 1})
                              .contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

std::vector<uint8_t> to_rgba8(const torch::Tensor& images) {
  torch::Tensor x = images.detach().to(torch::kCPU, torch::kFloat32).clamp(-1, 1).add(1).mul(127.5).round();
  if (x.size(1) == 1) x = x.expand({-1, 3, -1, -1});
  if (x.size(1) == 3) x = torch::cat({x, torch::full_like(x.slice(1, 0, 1), 255)}, 1);
  const torch::Tensor bytes = x.permute({0, 2, 3, 1}).to(torch::kUInt8).contiguous();
  return std::vector<uint8_t>(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel());
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
