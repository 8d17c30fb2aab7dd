// Training benchmark: images per second of full training steps (forward, backward, AdamW)
// for the small preset at 32x32 and seed64 at 64x64 batch 8, and the achieved GFLOP/s
// (counted as 3x the forward's FLOPs: the backward costs about twice the forward) over the peak
// of a 3x3 convolution measured by this same program (the sgemm peak is printed beside it: on
// AVX-512 CPUs Debian's OpenBLAS runs AVX2 kernels that oneDNN's convolutions outrun, so a
// ratio to it read above 100 %); then a fine-tuning step of the default model's
// preset (batch 32, as the fine-tuning recipe; bf16 where the trainer uses it) through LoRA
// adapters of rank 4 and 16 against training every weight, and rank 16 with the batch's rows
// split over the threads as the trainer runs a step (split_backward.h), timed in alternation so
// that a noisy machine affects all alike. Writes out/bench_training.json.
#include <ATen/CPUGeneratorImpl.h>

#include "bench_common.h"
#include "ddpm/lora.h"
#include "ddpm/loss.h"
#include "ddpm/precision.h"
#include "ddpm/runtime.h"
#include "ddpm/schedule.h"
#include "mixed_precision.h"
#include "split_backward.h"

int main(int argc, char** argv) {
  std::string json_path;
  bench::init(argc, argv, json_path, "out/bench_training.json");
  std::vector<bench::Row> rows;
  rows.push_back({"sgemm peak (2048^3)", bench::sgemm_peak(), "GFLOP/s"});
  const double peak = bench::conv_peak();
  rows.push_back({"conv peak (3x3, 128 ch, 32x32, batch 8)", peak, "GFLOP/s"});
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
    rows.push_back({tag + " efficiency", 100 * 3 * cfg.forward_flops(batch) / s / 1e9 / peak, "% of conv peak"});
  }

  {
    const ddpm::UNetConfig cfg = ddpm::preset_sprite32(9);
    constexpr int kBatch = 32;
    const auto on = torch::TensorOptions().device(bench::device());
    const torch::Tensor x = torch::rand({kBatch, cfg.in_channels, cfg.image_size, cfg.image_size}, on) * 2 - 1;
    const torch::Tensor y = torch::randint(cfg.num_classes, {kBatch}, on.dtype(torch::kLong));
    struct Variant {
      int rank;
      bool split;
      ddpm::UNet model{nullptr};
      std::vector<torch::Tensor> params;
      std::unique_ptr<ddpm::LoraAdapter> lora;
      std::unique_ptr<torch::optim::AdamW> opt;
      std::vector<double> seconds;
    };
    // In the trainer's number format: bf16 convolutions where the CPU has them.
    const bool bf16 = bench::device().is_cpu() && ddpm::bf16_native();
    rows.push_back({"fine-tune rows below in bf16", bf16 ? 1.0 : 0.0, "1 = yes"});
    const double tune_peak = bf16 ? bench::conv_peak(torch::kBFloat16) : peak;
    if (bf16) rows.push_back({"bf16 conv peak (3x3, 128 ch, 32x32, batch 8)", tune_peak, "GFLOP/s"});
    std::vector<Variant> variants(4);
    auto gen = at::detail::createCPUGenerator(1);
    for (int i = 0; i < 4; ++i) {
      Variant& v = variants[i];
      v.rank = i == 0 ? 0 : i == 1 ? 4 : 16;
      v.split = i == 3;
      torch::manual_seed(0);
      v.model = ddpm::UNet(cfg);
      v.model->to(bench::device());
      if (v.rank > 0) {
        v.lora = std::make_unique<ddpm::LoraAdapter>(v.model, v.rank, gen);
        for (auto& [name, p] : v.lora->named_parameters()) v.params.push_back(p);
      }
      for (auto& p : v.model->parameters()) if (p.requires_grad()) v.params.push_back(p);
      v.opt = std::make_unique<torch::optim::AdamW>(v.params, torch::optim::AdamWOptions(1e-3));
    }
    for (int round = 0; round < 6; ++round) {
      for (Variant& v : variants) {
        v.seconds.push_back(bench::time_it(1, [&] {
          v.opt->zero_grad();
          if (v.split) {
            ddpm::split_diffusion_backward(ddpm::calling_thread_threads(), v.model, schedule, x, y, gen, kBatch, 0, 0,
                                           bf16, v.params);
          } else {
            torch::Tensor loss;
            {
              const ddpm::CpuAutocastScope mixed(bf16);
              loss = ddpm::diffusion_loss(v.model, schedule, x, y, gen);
            }
            loss.backward();
          }
          v.opt->step();
        }));
      }
    }
    const auto median = [](std::vector<double> t) {
      std::sort(t.begin(), t.end());
      return t[t.size() / 2];
    };
    const double full = median(variants[0].seconds);
    rows.push_back({"fine-tune sprite32 batch 32, every weight", kBatch / full, "images/s"});
    for (const Variant& v : {std::cref(variants[1]), std::cref(variants[2]), std::cref(variants[3])}) {
      const double s = median(v.seconds);
      const std::string tag = "fine-tune sprite32 batch 32, LoRA rank " + std::to_string(v.rank) +
                              (v.split ? ", rows split over the threads" : "");
      rows.push_back({tag, kBatch / s, "images/s"});
      rows.push_back({tag + " / every weight", full / s, "speed ratio"});
      if (v.split) {
        rows.push_back({tag + " efficiency", 100 * 3 * cfg.forward_flops(kBatch) / s / 1e9 / tune_peak,
                        bf16 ? "% of bf16 conv peak" : "% of conv peak"});
      }
    }
    rows.push_back({"fine-tune LoRA rank 16: rows split / whole batch on the team",
                    median(variants[2].seconds) / median(variants[3].seconds), "speed ratio"});
  }
  bench::report(rows, json_path);
  return 0;
}
