// Training benchmark: images per second of full training steps (forward, backward, AdamW)
// for the small preset at 32x32 and seed64 at 64x64 batch 8, and the achieved GFLOP/s
// (counted as 3x the forward's FLOPs: the backward costs about twice the forward) over the
// sgemm peak measured by this same program. Writes out/bench_training.json.
#include "bench_common.h"
#include "ddpm/loss.h"
#include "ddpm/schedule.h"

int main(int argc, char** argv) {
  std::string json_path;
  bench::init(argc, argv, json_path, "out/bench_training.json");
  std::vector<bench::Row> rows;
  const double peak = bench::sgemm_peak();
  rows.push_back({"sgemm peak (2048^3)", peak, "GFLOP/s"});
  const auto schedule = ddpm::make_schedule().to(bench::device());

  for (const auto& [cfg, batch] : std::vector<std::pair<ddpm::UNetConfig, int>>{
           {ddpm::preset_sprite32(9), 16}, {ddpm::preset_sprite32(9), 64}, {ddpm::preset_seed64(10), 8}}) {
    torch::manual_seed(0);
    ddpm::UNet m(cfg);
    m->to(bench::device());
    torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(3e-4));
    const auto on = torch::TensorOptions().device(bench::device());
    const torch::Tensor x = torch::rand({batch, cfg.in_channels, cfg.image_size, cfg.image_size}, on) * 2 - 1;
    const torch::Tensor y = torch::randint(cfg.num_classes, {batch}, on.dtype(torch::kLong));
    auto gen = at::detail::createCPUGenerator(1);
    const double s = bench::time_it(cfg.preset == "seed64" ? 2 : 5, [&] {
      const torch::Tensor loss = ddpm::diffusion_loss(m, schedule, x, y, gen);
      opt.zero_grad();
      loss.backward();
      opt.step();
    });
    const std::string tag = cfg.preset + " " + std::to_string(cfg.image_size) + "px batch " + std::to_string(batch);
    rows.push_back({tag + " training", batch / s, "images/s"});
    rows.push_back({tag + " efficiency", 100 * 3 * cfg.forward_flops(batch) / s / 1e9 / peak, "% of sgemm peak"});
  }
  bench::report(rows, json_path);
  return 0;
}
