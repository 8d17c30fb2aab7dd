// Sampling benchmark: achieved GFLOP/s of the UNet forward over the sgemm peak measured by
// this same program, guided denoising steps per second for the small preset, and full-image
// times per sampler. Prints a table and writes JSON (default out/bench_sampling.json).
// DDPM_DEVICE=cuda runs it on a GPU (the peak is then the GPU's float32 matrix product).
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "ddpm/guidance.h"
#include "ddpm/runtime.h"
#include "ddpm/sampler.h"

namespace {

using clk = std::chrono::steady_clock;

torch::Device g_device = torch::kCPU;

void sync() {
  if (g_device.is_cuda()) torch::cuda::synchronize();
}

// Median seconds of `reps` calls after one warm-up call.
double time_it(int reps, const std::function<void()>& f) {
  f();
  sync();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto s = clk::now();
    f();
    sync();
    t.push_back(std::chrono::duration<double>(clk::now() - s).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Row {
  std::string name;
  double value;
  std::string unit;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string json_path = argc > 1 ? argv[1] : "out/bench_sampling.json";
  ddpm::init_runtime();
  const char* device_name = std::getenv("DDPM_DEVICE");
  g_device = ddpm::select_device(device_name ? device_name : "cpu");
  const auto on = torch::TensorOptions().device(g_device);
  c10::InferenceMode inference;
  std::vector<Row> rows;

  const int64_t n = 2048;
  const torch::Tensor a = torch::randn({n, n}, on), b = torch::randn({n, n}, on);
  torch::Tensor c = torch::empty({n, n}, on);
  const double peak = 2.0 * n * n * n / time_it(5, [&] { torch::mm_out(c, a, b); }) / 1e9;
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
  forward_efficiency(ddpm::preset_sprite32(9), 2);
  forward_efficiency(ddpm::preset_sprite32(9), 8);

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

  std::printf("device: %s; threads: %d (of %u cores)\n", g_device.str().c_str(),
              ddpm::runtime_threads(), std::thread::hardware_concurrency());
  std::printf("%-44s %12s  %s\n", "measure", "value", "unit");
  for (const auto& r : rows) std::printf("%-44s %12.3f  %s\n", r.name.c_str(), r.value, r.unit.c_str());
  if (const auto dir = std::filesystem::path(json_path).parent_path(); !dir.empty()) {
    std::filesystem::create_directories(dir);
  }
  std::ofstream j(json_path);
  j << "{\n  \"device\": \"" << g_device.str() << "\",\n  \"threads\": " << ddpm::runtime_threads()
    << ",\n  \"results\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    j << "    {\"name\": \"" << rows[i].name << "\", \"value\": " << rows[i].value << ", \"unit\": \""
      << rows[i].unit << "\"}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  j << "  ]\n}\n";
  std::printf("wrote %s\n", json_path.c_str());
  return 0;
}
