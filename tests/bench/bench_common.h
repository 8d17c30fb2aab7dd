#pragma once
// What the benchmarks share: median timing with device synchronisation, the float32 matrix
// product peak measured in the same run, and the table/JSON output.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "ddpm/io/error.h"
#include "ddpm/runtime.h"

namespace bench {

inline torch::Device& device() {
  static torch::Device d = torch::kCPU;
  return d;
}

inline void sync() {
  if (device().is_cuda()) torch::cuda::synchronize();
}

// Median seconds of `reps` calls after one warm-up call.
inline double time_it(int reps, const std::function<void()>& f) {
  f();
  sync();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto s = std::chrono::steady_clock::now();
    f();
    sync();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// GFLOP/s of a 2048^3 float32 matrix product on the benchmark's device.
inline double sgemm_peak() {
  const int64_t n = 2048;
  const auto on = torch::TensorOptions().device(device());
  const torch::Tensor a = torch::randn({n, n}, on), b = torch::randn({n, n}, on);
  torch::Tensor c = torch::empty({n, n}, on);
  return 2.0 * n * n * n / time_it(5, [&] { torch::mm_out(c, a, b); }) / 1e9;
}

// GFLOP/s of a 3x3 convolution where the library runs it best (128 channels, 32x32, batch 8).
// Debian's OpenBLAS runs its AVX2 kernels on AVX-512 CPUs, where oneDNN's convolutions beat its
// matrix product by a third (one core: 120-136 against 97 GFLOP/s): a floor from the sgemm
// peak alone would not be a floor.
// `dtype` kBFloat16: the peak of bf16 convolutions (float32 sums), the floor of bf16 inference.
inline double conv_peak(torch::ScalarType dtype = torch::kFloat32) {
  torch::NoGradGuard no_grad;
  const auto on = torch::TensorOptions().device(device()).dtype(dtype);
  const torch::Tensor x = torch::randn({8, 128, 32, 32}, on), w = torch::randn({128, 128, 3, 3}, on);
  const double flops = 2.0 * 8 * 128 * 128 * 9 * 32 * 32;
  return flops / time_it(5, [&] { torch::conv2d(x, w, {}, 1, 1); }) / 1e9;
}

struct Row {
  std::string name;
  double value;
  std::string unit;
};

inline void report(const std::vector<Row>& rows, const std::string& json_path) {
  std::printf("device: %s; threads: %d (of %u cores)\n", device().str().c_str(),
              ddpm::runtime_threads(), std::thread::hardware_concurrency());
  std::printf("%-44s %12s  %s\n", "measure", "value", "unit");
  for (const auto& r : rows) std::printf("%-44s %12.3f  %s\n", r.name.c_str(), r.value, r.unit.c_str());
  if (const auto dir = std::filesystem::path(json_path).parent_path(); !dir.empty()) {
    std::filesystem::create_directories(dir);
  }
  std::ofstream j(json_path);
  j << "{\n  \"device\": \"" << device().str() << "\",\n  \"threads\": " << ddpm::runtime_threads()
    << ",\n  \"results\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    j << "    {\"name\": \"" << rows[i].name << "\", \"value\": " << rows[i].value << ", \"unit\": \""
      << rows[i].unit << "\"}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  j << "  ]\n}\n";
  std::printf("wrote %s\n", json_path.c_str());
}

// DDPM_DEVICE=cuda (or cpu, the default) picks the device.
inline void init(int argc, char** argv, std::string& json_path, const std::string& default_json) {
  // The first argument is the JSON file (a bench's own options follow it): an option there
  // (--help too) gets the usage, not a run that writes its results to a file named after it.
  if (argc > 1 && argv[1][0] == '-') {
    const bool help = std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h";
    std::fprintf(help ? stdout : stderr, "usage: %s [OUT.json [OPTIONS]]  (default %s; DDPM_DEVICE=cuda runs on a GPU)\n",
                 argv[0], default_json.c_str());
    std::exit(help ? 0 : 2);
  }
  json_path = argc > 1 ? argv[1] : default_json;
  ddpm::init_runtime();
  const char* name = std::getenv("DDPM_DEVICE");
  try {
    device() = ddpm::select_device(name ? name : "cpu");
  } catch (const ddpm::Error& e) {
    std::fprintf(stderr, "DDPM_DEVICE: %s\n", e.what());
    std::exit(1);
  }
}

}  // namespace bench
