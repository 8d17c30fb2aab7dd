// ddpm train ASSETS --out MODEL [--preset P] [--size N] [--steps N] [--batch N] [--lr X] ...:
// trains a new model, or fine-tunes one, on an asset folder.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "clock_text.h"
#include "commands.h"
#include "loaded_plugin.h"
#include "spawn.h"

namespace ddpm_cli {
namespace {
namespace fs = std::filesystem;

struct TrainOptions {
  std::string assets, out, preset = "sprite32", init, checkpoint, samples, device;
  int size = 0, batch = 0;  // 0: the plugin's automatic recipe
  int64_t steps = 1000, sample_every = 0;
  double lr = 0, minutes = 0;
  bool steps_given = false;
  uint64_t seed = 0;
  // The schedule options keep the plugin's defaults unless given: each given one is recorded
  // here and applied to the params that ddpm_train_params_init filled.
  std::vector<std::function<void(ddpm_train_params&)>> overrides;
  int threads = 0;
  // Distributed: explicit options win over torchrun's environment (MASTER_ADDR, ...).
  int world_size = 0, rank = -1, master_port = 0, dist_timeout = 0, spawn = 0;
  std::string master_addr;
};

// An integer from the environment, or `fallback`; a user error when malformed.
int env_number(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > 1 << 30) user_error(std::string(name) + "='" + v + "' is not a valid number");
  return static_cast<int>(x);
}

// Registers `--name` writing `field` of the params when given on the command line.
template <typename T>
void schedule_option(CLI::App* cmd, TrainOptions& o, const std::string& name, T ddpm_train_params::*field,
                     const std::string& help) {
  auto value = std::make_shared<T>();
  cmd->add_option(name, *value, help)->each([&o, value, field](const std::string&) {
    o.overrides.push_back([value, field](ddpm_train_params& p) { p.*field = *value; });
  });
}

void schedule_flag(CLI::App* cmd, TrainOptions& o, const std::string& name, int ddpm_train_params::*field,
                   const std::string& help) {
  cmd->add_flag_callback(name, [&o, field] {
    o.overrides.push_back([field](ddpm_train_params& p) { p.*field = 1; });
  }, help);
}

struct TrainProgressView {
  bool tty = false;
  bool quiet = false;
  int64_t last_printed = -1;
};

extern "C" void on_train(ddpm_train_job* job, int64_t step, int64_t total, double loss, double ips,
                         double eta, const char* message, void* user_data) {
  auto* p = static_cast<TrainProgressView*>(user_data);
  if (interrupted()) g_plugin.ddpm_train_cancel(job);
  if (message) {
    std::fprintf(stderr, "%s%s\n", p->tty && p->last_printed >= 0 ? "\n" : "", message);
    if (p->tty) p->last_printed = -1;
    std::fflush(stderr);
    return;
  }
  if (p->quiet) return;
  if (p->tty) {
    std::fprintf(stderr, "\r%s %lld/%lld loss %.4f  %.1f img/s  ETA %s ", progress_bar(step, total).c_str(),
                 static_cast<long long>(step), static_cast<long long>(total), loss, ips,
                 ddpm_host::clock_text(eta).c_str());
    p->last_printed = step;
    if (step == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  } else if (step != p->last_printed) {
    std::fprintf(stderr, "step %lld/%lld loss %.4f %.1f img/s eta %s\n", static_cast<long long>(step),
                 static_cast<long long>(total), loss, ips, ddpm_host::clock_text(eta).c_str());
    p->last_printed = step;
  }
}

int run_train(const TrainOptions& o) {
  if (o.spawn > 0) {
    if (o.world_size > 0 || o.rank >= 0) user_error("--spawn starts the workers itself: give no --world-size or --rank");
    return spawn_workers(o.spawn, o.master_port > 0 ? o.master_port : 29500);
  }
  {
    std::error_code ec;
    if (!fs::exists(o.assets, ec)) user_error("asset folder '" + o.assets + "' does not exist");
    if (!fs::is_directory(o.assets, ec)) user_error("asset folder '" + o.assets + "' is not a folder");
  }
  if (o.out.empty()) user_error("--out is required: the model file to write");
  if (!o.init.empty()) require_file(o.init, "--init model");
  if (o.sample_every < 0) user_error("--sample-every " + std::to_string(o.sample_every) + " is out of range: 0 or more");
  if (o.sample_every > 0 && o.samples.empty()) user_error("--sample-every needs --samples DIR (where the grids go)");
  if (o.minutes > 0 && o.steps_given) user_error("give --steps or --minutes, not both (a time budget picks the steps)");
  if (o.minutes < 0) user_error("--minutes " + std::to_string(o.minutes) + " is out of range: more than 0");
  if (o.size < 0) user_error("--size " + std::to_string(o.size) + " is out of range: 0 (the preset's) or more");

  ddpm_train_params p;
  check(g_plugin.ddpm_train_params_init(&p, sizeof p), "default parameters");
  p.assets = o.assets.c_str();
  p.preset = o.preset.c_str();
  p.image_size = o.size;
  p.init_model = o.init.empty() ? nullptr : o.init.c_str();
  p.steps = o.steps;
  p.minutes = o.minutes;
  p.device = o.device.empty() ? nullptr : o.device.c_str();
  p.batch = o.batch;
  p.lr = o.lr;
  p.seed = o.seed;
  p.checkpoint = o.checkpoint.empty() ? nullptr : o.checkpoint.c_str();
  p.out_model = o.out.c_str();
  p.sample_dir = o.samples.empty() ? nullptr : o.samples.c_str();
  p.sample_every = o.samples.empty() ? 0 : o.sample_every;
  for (const auto& apply : o.overrides) apply(p);
  p.world_size = o.world_size > 0 ? o.world_size : env_number("WORLD_SIZE", 1);
  p.rank = o.rank >= 0 ? o.rank : env_number("RANK", 0);
  const char* env_addr = std::getenv("MASTER_ADDR");
  const std::string addr = !o.master_addr.empty() ? o.master_addr : env_addr && *env_addr ? env_addr : "";
  if (!addr.empty()) p.master_addr = addr.c_str();
  p.master_port = o.master_port > 0 ? o.master_port : env_number("MASTER_PORT", p.master_port);
  if (o.dist_timeout > 0) p.dist_timeout = o.dist_timeout;
  if (o.threads < 0) user_error("--threads " + std::to_string(o.threads) + " is out of range: 0 (all cores) or more");
  if (o.threads > 0) check(g_plugin.ddpm_set_threads(o.threads), "--threads");

  TrainProgressView progress;
  progress.tty = stderr_is_tty() && p.rank == 0;
  progress.quiet = p.rank > 0;  // rank 0 reports the steps; the others only their messages
  ddpm_train_job* job = nullptr;
  ddpm_status waited;
  {
    SigintCatcher sigint;
    check(g_plugin.ddpm_train_start(&p, on_train, &progress, &job), "cannot start training");
    // Poll so that Ctrl-C also cancels while the folder loads (before the first step).
    while ((waited = g_plugin.ddpm_train_wait(job, 200)) == DDPM_ERR_TIMEOUT) {
      if (interrupted()) g_plugin.ddpm_train_cancel(job);
    }
  }
  const std::string msg = g_plugin.ddpm_last_error();
  g_plugin.ddpm_train_free(job);
  if (waited == DDPM_ERR_CANCELLED) {
    std::cerr << "ddpm: training interrupted: " << msg << "\n";
    std::cout << o.out << "\n";
    return kExitUser;
  }
  if (waited != DDPM_OK) {
    throw Exit{exit_code_of(waited), "training failed: " + msg + " (" + g_plugin.ddpm_status_string(waited) + ")"};
  }
  if (p.rank == 0) std::cout << o.out << "\n";  // rank 0 wrote it
  return kExitOk;
}

}  // namespace

Command add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand("train", "train or fine-tune a model on an asset folder");
  cmd->add_option("ASSETS", o->assets, "asset folder: one subfolder of images per class")->required();
  cmd->add_option("--out,-o", o->out, "the model file to write (.safetensors)")->required();
  cmd->add_option("--preset", o->preset, "network preset of a new model (default sprite32)");
  cmd->add_option("--size", o->size, "image size of a new model (default: the preset's)");
  cmd->add_option("--steps", o->steps, "optimizer steps (default 1000)")->each([o](const std::string&) {
    o->steps_given = true;
  });
  cmd->add_option("--minutes", o->minutes,
                  "a time budget instead of --steps: the steps are picked from the measured speed and the run "
                  "ends, model written, within this many minutes");
  cmd->add_option("--device", o->device,
                  "cpu, cuda or cuda:N (default auto: CUDA when the plugin has it and a GPU is present)");
  cmd->add_option("--batch", o->batch, "batch size (default: 32 for --init fine-tunes and --distill, 16 otherwise)");
  cmd->add_option("--lr", o->lr,
                  "learning rate (default: 3e-4 for a new model, 5e-4 for --init fine-tunes, 2e-3 for those "
                  "through adapters (--lora R), 5e-5 with --distill)");
  cmd->add_option("--seed", o->seed, "random seed (default 0)");
  cmd->add_option("--init", o->init, "fine-tune this model file instead of a new model");
  cmd->add_option("--checkpoint", o->checkpoint, "training checkpoint, resumed when it exists");
  cmd->add_option("--samples", o->samples,
                  "folder for sample grids of the folder's classes (step_N.png; a fine-tune's step_0.png shows the "
                  "model before it)");
  cmd->add_option("--sample-every", o->sample_every,
                  "write a sample grid every N steps (default 0: only the final model's)");
  TrainOptions& to = *o;
  schedule_option(cmd, to, "--warmup", &ddpm_train_params::warmup, "learning-rate warm-up steps (default: 0 for a new model, 50 for --init and --minutes runs)");
  schedule_option(cmd, to, "--decay-from", &ddpm_train_params::decay_from,
                  "fraction of the steps after which the learning rate falls linearly to 0 (default: 0.5 for --init "
                  "fine-tunes, 1 (constant) otherwise)");
  schedule_option(cmd, to, "--grad-clip", &ddpm_train_params::grad_clip,
                  "max gradient norm, 0 = off (default: 1 for --init fine-tunes, off otherwise)");
  schedule_option(cmd, to, "--label-drop", &ddpm_train_params::label_drop,
                  "probability of training a label as 'no class' for guidance (default 0.1)");
  schedule_option(cmd, to, "--ema-decay", &ddpm_train_params::ema_decay, "EMA decay of the weights (default 0.995)");
  schedule_option(cmd, to, "--ema-start", &ddpm_train_params::ema_start,
                  "the EMA copies the weights until this step (default: 2000 for a new model trained for --steps; "
                  "0 with --ema-warmup for fine-tunes and --minutes runs)");
  schedule_flag(cmd, to, "--ema-warmup", &ddpm_train_params::ema_warmup,
                "after --ema-start the EMA decay rises as min(decay, (1+n)/(10+n)): short runs average too");
  schedule_option(cmd, to, "--snr-gamma", &ddpm_train_params::snr_gamma,
                  "min-SNR-gamma loss weighting, e.g. 5 (default 0: plain noise MSE)");
  schedule_option(cmd, to, "--checkpoint-every", &ddpm_train_params::checkpoint_every,
                  "steps between checkpoint writes (default 500)");
  schedule_flag(cmd, to, "--flip", &ddpm_train_params::flip, "random horizontal flips");
  schedule_flag(cmd, to, "--pixel-art", &ddpm_train_params::pixel_art, "nearest-neighbour fit, no crop");
  schedule_option(cmd, to, "--crop", &ddpm_train_params::random_crop,
                  "random resized crops (zoom 1-1.12, stretch to 4:3): 1 on, 0 off (each image whole) (default: off "
                  "for --init fine-tunes, whose samples copy the zoom and stretch, and --distill; on otherwise)");
  schedule_option(cmd, to, "--bf16", &ddpm_train_params::bf16,
                  "bf16 mixed precision on the CPU (convolutions in bfloat16, 1.5x the speed where the CPU has "
                  "AVX512-BF16): 1 on, 0 float32 (default: on where the CPU has it, off for data-parallel runs and CUDA)");
  schedule_option(cmd, to, "--student", &ddpm_train_params::live_student,
                  "fine-tuning: 1 (default) also writes OUT.student.safetensors beside the model when the --init model "
                  "has a Live student (its student moved by this fine-tune, for streams at one forward a stage); 0 none");
  schedule_option(cmd, to, "--strength", &ddpm_train_params::strength,
                  "fine-tuning: the model written is INIT + S x (tuned - INIT), the tuned weights blended with the "
                  "--init model's; 1 the tuned weights, lower keeps more of INIT, up to 2 extrapolates (default: 0.85 "
                  "for fine-tunes through adapters (--lora R), measured best for them; 1 otherwise)");
  schedule_flag(cmd, to, "--freeze", &ddpm_train_params::freeze,
                "fine-tuning: train only the class embedding and the last layers");
  schedule_option(cmd, to, "--lora", &ddpm_train_params::lora_rank,
                  "fine-tuning: train low-rank adapters of this rank beside the frozen convolution and attention "
                  "weights; the model file holds the merged weights (default 0: every weight, measured level or "
                  "better per CPU minute; a resumed run keeps its checkpoint's rank)");
  schedule_flag(cmd, to, "--distill", &ddpm_train_params::distill,
                "distil the --init model (the teacher) into a student that takes the guidance scale as an input: "
                "a guided step costs one forward instead of two, with any sampler");
  schedule_option(cmd, to, "--distill-steps", &ddpm_train_params::distill_steps,
                  "with --distill: distil the steps too, for this many DDIM steps (progressive distillation; "
                  "chain rounds: 8, then 4 from the 8-step student)");
  schedule_option(cmd, to, "--distill-substeps", &ddpm_train_params::distill_substeps,
                  "the teacher's steps per student step (default 2)");
  schedule_flag(cmd, to, "--distill-sde", &ddpm_train_params::distill_stochastic,
                "with --distill-steps: distil DPM-Solver++ SDE steps (first order, fresh noise each step) "
                "instead of DDIM steps; the student then samples with them");
  schedule_option(cmd, to, "--distill-guidance-min", &ddpm_train_params::distill_guidance_min,
                  "the student's lowest guidance scale (default 1)");
  schedule_option(cmd, to, "--distill-guidance-max", &ddpm_train_params::distill_guidance_max,
                  "the student's highest guidance scale (default 5)");
  cmd->add_option("--threads", o->threads, "CPU threads (default: all cores)");
  cmd->add_option("--spawn", o->spawn, "data-parallel: run N local worker processes of this command");
  cmd->add_option("--world-size", o->world_size, "data-parallel: processes in all (default $WORLD_SIZE or 1)");
  cmd->add_option("--rank", o->rank, "data-parallel: this process's rank (default $RANK or 0)");
  cmd->add_option("--master-addr", o->master_addr, "data-parallel: rank 0's address (default $MASTER_ADDR or 127.0.0.1)");
  cmd->add_option("--master-port", o->master_port, "data-parallel: rank 0's port (default $MASTER_PORT or 29500)");
  cmd->add_option("--dist-timeout", o->dist_timeout, "data-parallel: seconds before a silent rank is lost (default 60)");
  return {cmd, [o] { return run_train(*o); }};
}

}  // namespace ddpm_cli
