// Sampling benchmark: achieved GFLOP/s of the UNet forward over the sgemm peak measured by
// this same program, guided denoising steps per second for the small preset, and full-image
// times per sampler. Prints a table and writes JSON (default out/bench_sampling.json).
// DDPM_DEVICE=cuda runs it on a GPU (the peak is then the GPU's float32 matrix product).
#include "bench_common.h"
#include "ddpm/guidance.h"
#include "ddpm/sampler.h"
#include "attention.h"

using bench::Row;
using bench::time_it;

int main(int argc, char** argv) {
  std::string json_path;
  bench::init(argc, argv, json_path, "out/bench_sampling.json");
  const torch::Device g_device = bench::device();
  const auto on = torch::TensorOptions().device(g_device);
  c10::InferenceMode inference;
  std::vector<Row> rows;

  const double peak = bench::sgemm_peak();
  rows.push_back({"sgemm peak (2048^3)", peak, "GFLOP/s"});

  const auto forward_efficiency = [&](const ddpm::UNetConfig& cfg, int batch) {
    torch::manual_seed(0);
    ddpm::UNet m(cfg);
    m->to(g_device);
    m->eval();
    const torch::Tensor x = torch::randn({batch, cfg.in_channels, cfg.image_size, cfg.image_size}, on);
    const torch::Tensor t = torch::full({batch}, 500, on.dtype(torch::kLong));
    const double s = time_it(3, [&] { m->forward(x, t); });
    const double gflops = cfg.forward_flops(batch) / s / 1e9;
    const std::string tag = cfg.preset + " " + std::to_string(cfg.image_size) + "px batch " + std::to_string(batch);
    rows.push_back({tag + " forward", s * 1e3, "ms"});
    rows.push_back({tag + " efficiency", 100 * gflops / peak, "% of sgemm peak"});
  };
  forward_efficiency(ddpm::preset_seed64(10), 2);
  forward_efficiency(ddpm::preset_seed64(10), 8);
  // The default model (assets/emoji32) is the sprite32 preset with 9 classes.
  forward_efficiency(ddpm::preset_sprite32(9), 2);
  forward_efficiency(ddpm::preset_sprite32(9), 8);

  // seed64's 64x64 attention layer alone (4096 tokens, 64 channels, 4 heads, batch 2): the
  // fused kernel the UNet uses on the CPU, against LibTorch's bmm + softmax + bmm over query
  // chunks (the path before the kernel, still taken where it has no kernel).
  {
    const double flops = 4.0 * 2 * 4096 * 4096 * 64;  // q k^T and p v
    const torch::Tensor qkv = torch::randn({2, 4096, 3 * 64}, on);
    const double fused = time_it(3, [&] { ddpm::packed_attention(qkv, 4); });
    const double library = time_it(3, [&] { ddpm::library_attention(qkv, 4); });
    const std::string tag = "seed64 64x64 attention, ";
    rows.push_back({tag + "packed_attention", fused * 1e3, "ms"});
    rows.push_back({tag + "packed_attention eff.", 100 * flops / fused / 1e9 / peak, "% of sgemm peak"});
    rows.push_back({tag + "bmm+softmax", library * 1e3, "ms"});
    rows.push_back({tag + "bmm+softmax eff.", 100 * flops / library / 1e9 / peak, "% of sgemm peak"});
  }

  // Guided denoising steps per second for the small preset (batch B means 2B images per
  // forward: each image carries its unconditional twin).
  torch::manual_seed(0);
  ddpm::UNet small(ddpm::preset_sprite32(9));
  small->to(g_device);
  small->eval();
  const auto schedule = ddpm::make_schedule();
  for (int batch : {1, 8}) {
    const torch::Tensor x = torch::randn({batch, 4, 32, 32}, on);
    const torch::Tensor t = torch::full({batch}, 500, on.dtype(torch::kLong));
    const std::vector<int64_t> classes(batch, 1);
    const std::vector<float> guidance(batch, 3.0f);
    const double s = time_it(10, [&] { ddpm::predict_noise(small, x, t, classes, guidance); });
    rows.push_back({"sprite32 guided step, batch " + std::to_string(batch), 1.0 / s, "steps/s"});
  }
  for (auto [kind, steps] : std::vector<std::pair<ddpm::SamplerKind, int>>{
           {ddpm::SamplerKind::DPMSolverPP2M, 20}, {ddpm::SamplerKind::DDIM, 50},
           {ddpm::SamplerKind::DDPM, 1000}}) {
    ddpm::SampleOptions o;
    o.sampler = kind;
    o.steps = steps;
    o.classes = {1};
    const double s = time_it(kind == ddpm::SamplerKind::DDPM ? 1 : 3,
                             [&] { ddpm::sample(small, schedule, o); });
    rows.push_back({"sprite32 image, " + ddpm::to_string(kind) + "-" + std::to_string(steps), s, "s"});
  }

  bench::report(rows, json_path);
  return 0;
}
