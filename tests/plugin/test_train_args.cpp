// ddpm_train_params -> "--name=value" -> ddpm_train_params keeps every field a worker needs bit
// for bit (plugin/src/train_args.cpp), and malformed worker arguments are refused by name.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "train_args.h"

#define CHECK(c)                                                            \
  do {                                                                      \
    if (!(c)) {                                                             \
      std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
      std::exit(1);                                                         \
    }                                                                       \
  } while (0)

static bool same(const char* a, const char* b) { return (!a && !b) || (a && b && std::strcmp(a, b) == 0); }

static void expect_refused(std::vector<std::string> args, const char* needle) {
  try {
    ddpm_plugin::train_params_from_args(args);
  } catch (const std::invalid_argument& e) {
    std::printf("  refused: %s\n", e.what());
    CHECK(std::strstr(e.what(), needle));
    return;
  }
  CHECK(!"accepted");
}

int main() {
  ddpm_train_params p;
  CHECK(ddpm_train_default_params(&p) == DDPM_OK);
  p.assets = "/data/my assets=with equals";
  p.preset = "seed64";
  p.image_size = 48;
  p.init_model = nullptr;  // NULL stays NULL
  p.steps = 123456789012LL;
  p.batch = 24;
  p.lr = 0.1 + 0.2;  // not a short decimal
  p.seed = 18446744073709551615ULL;
  p.checkpoint = "";
  p.out_model = "out.safetensors";
  p.sample_dir = "grids";
  p.sample_every = 7;
  p.warmup = 3;
  p.decay_from = 1.0 / 3.0;
  p.grad_clip = 1e-300;
  p.label_drop = 0.15;
  p.ema_decay = 0.9999;
  p.ema_start = 5;
  p.checkpoint_every = 9;
  p.flip = 1;
  p.pixel_art = 1;
  p.freeze = 1;
  p.world_size = 3;
  p.rank = 2;
  p.master_addr = "10.0.0.1";
  p.master_port = 29511;
  p.dist_timeout = 17;
  p.snr_gamma = 5.0 / 3.0;
  p.ema_warmup = 1;
  p.minutes = 2.0 / 3.0;
  p.device = "cpu";
  p.distill = 1;
  p.distill_steps = 4;
  p.distill_substeps = 3;
  p.distill_guidance_min = 1.0 / 3.0;
  p.distill_guidance_max = 7.0 / 3.0;
  p.distill_stochastic = 1;
  p.lora_rank = 5;
  p.random_crop = 0;  // not the default (-1)
  p.bf16 = 0;

  const auto args = ddpm_plugin::train_params_to_args(p);
  const auto back = ddpm_plugin::train_params_from_args(args);
  const ddpm_train_params& q = back.params;
  CHECK(same(q.assets, p.assets) && same(q.preset, p.preset) && same(q.init_model, nullptr) &&
        same(q.checkpoint, "") && same(q.out_model, p.out_model) && same(q.sample_dir, p.sample_dir) &&
        same(q.master_addr, p.master_addr));
  CHECK(q.image_size == p.image_size && q.steps == p.steps && q.batch == p.batch && q.seed == p.seed);
  CHECK(std::memcmp(&q.lr, &p.lr, sizeof p.lr) == 0 && std::memcmp(&q.decay_from, &p.decay_from, sizeof p.decay_from) == 0);
  CHECK(q.grad_clip == p.grad_clip && q.label_drop == p.label_drop && q.ema_decay == p.ema_decay);
  CHECK(q.sample_every == p.sample_every && q.warmup == p.warmup && q.ema_start == p.ema_start &&
        q.checkpoint_every == p.checkpoint_every);
  CHECK(q.flip == 1 && q.pixel_art == 1 && q.freeze == 1);
  CHECK(q.world_size == 3 && q.rank == 2 && q.master_port == 29511 && q.dist_timeout == 17);
  CHECK(std::memcmp(&q.snr_gamma, &p.snr_gamma, sizeof p.snr_gamma) == 0 && q.ema_warmup == 1);
  CHECK(std::memcmp(&q.minutes, &p.minutes, sizeof p.minutes) == 0);
  CHECK(same(q.device, p.device));
  CHECK(q.distill == 1 && q.distill_steps == 4 && q.distill_substeps == 3);
  CHECK(std::memcmp(&q.distill_guidance_min, &p.distill_guidance_min, sizeof(double)) == 0);
  CHECK(std::memcmp(&q.distill_guidance_max, &p.distill_guidance_max, sizeof(double)) == 0);
  CHECK(q.distill_stochastic == 1 && q.lora_rank == 5 && q.random_crop == 0 && q.bf16 == 0);
  CHECK(q.local_processes == 0 && q.worker_path == nullptr);  // never passed on
  std::printf("  %zu arguments round-trip\n", args.size());

  expect_refused({"--bogus=1"}, "unknown option --bogus");
  expect_refused({"--batch=12x"}, "--batch: '12x'");
  expect_refused({"--batch=99999999999"}, "--batch: '99999999999'");
  expect_refused({"--steps="}, "--steps: ''");
  expect_refused({"steps=3"}, "not of the form --name=value");
  std::printf("train args: all checks passed\n");
  return 0;
}
