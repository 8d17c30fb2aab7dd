// Against the reference, in one run: the time of one guided sampling step of seed64 at 64x64
// batch 1 here over the reference architecture's in PyTorch (tests/bench/reference_step.py,
// written as the reference writes it), both with default settings, and over PyTorch with glibc
// told to keep freed memory (the setting that hides the reference's page-fault cost). The same
// weights (the reference's own .pt, imported) give outputs equal to PyTorch's within 1e-4.
// Ours is timed twice: the bare step on the main thread, and the step as engines get it, from
// generation jobs through the C ABI (11 DDPM steps minus 1, over 10). Each side's intra-op
// thread count is printed: PyTorch's is what its users get by default (1 on Debian).
//   ddpm_bench_reference [OUT.json] [--repeat N]
// Needs Debian's python3-torch; makes the full-size fixtures in a temporary folder (~190 MB).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "bench_common.h"
#include "bench_jobs.h"
#include "ddpm/guidance.h"
#include "ddpm/import.h"
#include "ddpm/io/file_bytes.h"
#include "ddpm/io/safetensors.h"
#include "ddpm/sampler_steps.h"
#include "ddpm/schedule.h"
#include "ddpm/tensor_bytes.h"

namespace fs = std::filesystem;

namespace {

// Runs a shell command and returns its standard output.
std::string capture(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) throw std::runtime_error("cannot run: " + cmd);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p.get())) > 0) out.append(buf, n);
  return out;
}

double json_number(const std::string& text, const std::string& key, const std::string& cmd) {
  const std::string quoted = "\"" + key + "\": ";
  const auto k = text.find(quoted);
  if (k == std::string::npos) throw std::runtime_error("no " + key + " from: " + cmd + "\n" + text);
  return std::atof(text.c_str() + k + quoted.size());
}

// Median seconds of a guided DDPM job of `steps` steps through the C ABI (class 3, batch 1).
double job_seconds(ddpm_model* model, int steps, int repeat) {
  ddpm_generate_params p;
  ddpm_generate_default_params(&p);
  p.sampler = DDPM_SAMPLER_DDPM;
  p.steps = steps;
  p.class_index = 3;
  return bench::median_job_seconds(model, p, repeat);
}

}  // namespace

int main(int argc, char** argv) try {
  std::string json;
  bench::init(argc, argv, json, "out/bench_reference.json");
  int repeat = 3;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--repeat") repeat = std::atoi(argv[i + 1]);
  }
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0) {
    std::fprintf(stderr, "ddpm_bench_reference: needs python3-torch (apt-get install python3-torch)\n");
    return 1;
  }
  const fs::path dir = fs::temp_directory_path() / ("ddpm_bench_ref_" + std::to_string(::getpid()));
  const std::string src = DDPM_SOURCE_DIR;
  if (std::system(("cd " + src + "/tests/fixtures && /usr/bin/python3 make_reference_fixtures.py " + dir.string() +
                   " --full > /dev/null").c_str()) != 0) {
    throw std::runtime_error("make_reference_fixtures.py --full failed");
  }
  const std::string pt = (dir / "seed64_cond.pt").string();

  // Equality first: the imported model against PyTorch's own outputs on the fixture's inputs.
  ddpm::ImportOptions io;
  io.image_size = 64;
  ddpm::Model m = ddpm::import_reference_checkpoint(pt, io);
  const auto bytes = ddpm::io::read_file((dir / "seed64_cond_io.safetensors").string(), 1 << 30);
  const auto ref = ddpm::decode_tensors(ddpm::io::parse_safetensors(bytes.data(), bytes.size(), "io"), "io");
  double diff = 0;
  {
    c10::InferenceMode inference;
    diff = std::max((m.unet->forward(ref.at("x"), ref.at("t"), ref.at("y")) - ref.at("out")).abs().max().item<double>(),
                    (m.unet->forward(ref.at("x"), ref.at("t")) - ref.at("out_uncond")).abs().max().item<double>());
  }

  // PyTorch, default settings, then with freed memory kept.
  const std::string script = "/usr/bin/python3 " + src + "/tests/bench/reference_step.py " + pt +
                             " --repeat " + std::to_string(repeat);
  const std::string default_run = capture("env -u GLIBC_TUNABLES " + script);
  const double torch_default = json_number(default_run, "seconds", script);
  const double torch_threads = json_number(default_run, "threads", script);
  const std::string tuned = "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295 ";
  const double torch_tuned = json_number(capture(tuned + script), "seconds", script);

  // Ours: the same step as the sampler takes it (guided prediction in one batched forward, then
  // the DDPM update), same weights, batch 1, t = 500.
  const ddpm::NoiseSchedule schedule = ddpm::make_schedule();
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({1, 3, 64, 64});
  const torch::Tensor t = torch::full({1}, 500, torch::kLong);
  const std::vector<int64_t> classes{3};
  const std::vector<float> guidance{3.0f};
  const double ab = schedule.alpha_bars[500].item<double>(), ab_prev = schedule.alpha_bars[499].item<double>();
  ddpm::steps::DpmSolverPP2M unused;
  ddpm::steps::Rule rule;
  rule.sampler = ddpm::SamplerKind::DDPM;
  const double ours = bench::time_it(repeat, [&] {
    c10::InferenceMode inference;
    const torch::Tensor eps = ddpm::predict_noise(m.unet, x, t, classes, guidance);
    torch::Tensor x0;
    x = ddpm::steps::denoise(rule, x, eps, ab, ab_prev, torch::randn_like(x), unused, x0);
  });

  // Ours as engines get it: the reference's .pt loaded by the plugin, jobs on worker threads.
  ddpm_model* model = nullptr;
  if (ddpm_model_load(pt.c_str(), &model) != DDPM_OK) {
    throw std::runtime_error(std::string("ddpm_model_load: ") + ddpm_last_error());
  }
  const double abi = (job_seconds(model, 11, repeat) - job_seconds(model, 1, repeat)) / 10;
  ddpm_model_free(model);
  fs::remove_all(dir);

  std::vector<bench::Row> rows{
      {"max |ours - PyTorch| on the fixture's inputs", diff, "(target <= 1e-4)"},
      {"PyTorch guided step, default settings", torch_default, "s"},
      {"PyTorch guided step, malloc keeps freed memory", torch_tuned, "s"},
      {"PyTorch intra-op threads (its default)", torch_threads, "threads"},
      {"ours intra-op threads", double(ddpm::runtime_threads()), "threads"},
      {"ours guided step, bare (one batched forward)", ours, "s"},
      {"ours guided step, C ABI job", abi, "s"},
      {"ours bare / PyTorch default", ours / torch_default, "(target <= 0.1)"},
      {"ours C ABI job / PyTorch default", abi / torch_default, "(target <= 0.1)"},
      {"ours / PyTorch with the malloc setting", ours / torch_tuned, "(target <= 0.6)"},
  };
  bench::report(rows, json);
  std::printf("max |ours - PyTorch| = %.2e\n", diff);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "ddpm_bench_reference: %s\n", e.what());
  return 1;
}
