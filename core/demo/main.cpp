// The core demo, the README's main job until the plugin and the studio exist: trains a small
// class-conditional model on an asset folder for a few hundred steps, then samples a grid of
// every class with classifier-free guidance and writes it as a PNG.
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <string>

#include "ddpm/io/asset_folder.h"
#include "ddpm/io/error.h"
#include "ddpm/loss.h"
#include "ddpm/runtime.h"
#include "ddpm/sampler.h"
#include "ddpm/tensor_image.h"
#include "ddpm/unet.h"

namespace {

struct Args {
  std::string assets = "assets/samples";
  std::string out = "out/demo_grid.png";
  int train_steps = 1500;
  int sample_steps = 100;
  float guidance = 1.5f;
  int size = 16;
  uint64_t seed = 1;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ddpm::Error("option " + k + " needs a value");
      return argv[++i];
    };
    if (k == "--assets") a.assets = value();
    else if (k == "--out") a.out = value();
    else if (k == "--train-steps") a.train_steps = std::stoi(value());
    else if (k == "--sample-steps") a.sample_steps = std::stoi(value());
    else if (k == "--size") a.size = std::stoi(value());
    else if (k == "--guidance") a.guidance = std::stof(value());
    else if (k == "--seed") a.seed = std::stoull(value());
    else if (k == "--help" || k == "-h") {
      std::printf("usage: ddpm_demo [--assets DIR] [--out PNG] [--train-steps N] "
                  "[--sample-steps N] [--size PX] [--guidance G] [--seed S]\n");
      std::exit(0);
    } else {
      throw ddpm::Error("unknown option '" + k + "' (try --help)");
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  ddpm::init_runtime();
  torch::manual_seed(a.seed);
  ddpm::io::AssetFolderOptions lo;
  lo.size = a.size;
  const auto folder = ddpm::io::load_asset_folder(a.assets, lo);
  for (const auto& s : folder.skipped) std::fprintf(stderr, "skipped %s\n", s.c_str());
  std::printf("%zu images in %zu classes from %s\n", folder.images.size(),
              folder.class_names.size(), a.assets.c_str());

  ddpm::UNetConfig cfg = ddpm::preset_sprite32(static_cast<int>(folder.class_names.size()));
  cfg.image_size = a.size;
  cfg.base_channels = 16;
  cfg.channel_mult = {1, 2, 2};
  cfg.attention_resolutions = {a.size / 4};
  cfg.time_dim = 64;
  ddpm::UNet model(cfg);
  const auto schedule = ddpm::make_schedule();
  const torch::Tensor data = ddpm::from_images(folder.images, cfg.in_channels);
  const torch::Tensor labels = torch::tensor(std::vector<int64_t>(folder.labels.begin(), folder.labels.end()));
  std::printf("model: %lld parameters, %d threads\n",
              static_cast<long long>(model->parameter_count()), ddpm::runtime_threads());

  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(2e-3));
  auto gen = at::detail::createCPUGenerator(a.seed);
  const auto start = std::chrono::steady_clock::now();
  double smoothed = 0;
  for (int step = 1; step <= a.train_steps; ++step) {
    // Constant learning rate, then a linear decay to zero over the second half.
    const double lr = 2e-3 * std::min(1.0, 2.0 * (1.0 - double(step - 1) / a.train_steps));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    const torch::Tensor idx = torch::randint(data.size(0), {32}, gen, torch::kLong);
    torch::Tensor y = labels.index_select(0, idx);
    // Drop 10% of labels so the same network also learns the unconditional branch.
    y = torch::where(torch::rand({32}, gen) < 0.1, torch::full_like(y, -1), y);
    const torch::Tensor loss = ddpm::diffusion_loss(model, schedule, data.index_select(0, idx), y, gen);
    opt.zero_grad();
    loss.backward();
    opt.step();
    smoothed = step == 1 ? loss.item<double>() : 0.95 * smoothed + 0.05 * loss.item<double>();
    if (step % 100 == 0 || step == a.train_steps) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("train step %4d/%d  loss %.4f  %.1f steps/s\n", step, a.train_steps, smoothed, step / s);
      std::fflush(stdout);
    }
  }

  ddpm::SampleOptions so;
  const int per_class = 6;
  so.batch = per_class * static_cast<int>(folder.class_names.size());
  for (int c = 0; c < static_cast<int>(folder.class_names.size()); ++c) {
    for (int k = 0; k < per_class; ++k) so.classes.push_back(c);
  }
  so.steps = a.sample_steps;
  so.guidance = a.guidance;
  so.seed = a.seed;
  so.clip_x0 = true;
  const auto result = ddpm::sample(model, schedule, so, [](const ddpm::StepView& v) {
    if (v.step % 20 == 0 || v.step == v.total) std::printf("sample step %d/%d\n", v.step, v.total);
  });
  const auto slash = a.out.find_last_of('/');
  if (slash != std::string::npos) std::filesystem::create_directories(a.out.substr(0, slash));
  ddpm::save_grid_png(a.out, result.images, per_class);
  std::printf("wrote %s (rows: %s)\n", a.out.c_str(), [&] {
    std::string s;
    for (const auto& n : folder.class_names) s += (s.empty() ? "" : ", ") + n;
    return s;
  }().c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "ddpm_demo: %s\n", e.what());
  return 1;
}
