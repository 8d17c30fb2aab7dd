#pragma once
// Training and fine-tuning on an asset folder (one subfolder per class): AdamW on the noise
// MSE with uniform timesteps, labels dropped for classifier-free guidance, EMA weights,
// optional warm-up and gradient clipping, periodic atomic checkpoints that resume exactly,
// periodic sample grids, progress reports, and a clean stop between steps.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <optional>

#include "ddpm/distributed_options.h"
#include "ddpm/io/model_info.h"

namespace ddpm {

struct TrainOptions {
  std::string assets;                 // the asset folder
  std::string preset = "sprite32";    // for a new model
  int image_size = 0;                 // 0: the preset's
  std::optional<UNetConfig> architecture;  // overrides preset and image_size when set
  std::string init_model;             // fine-tune this model file instead of a new model
  // Distillation (ddpm/distill.h): trains a student of init_model (the teacher) on the folder's
  // images instead of fine-tuning it: guidance distillation, and with distill_steps > 0 step
  // distillation for that many DDIM steps. Every other option (steps or minutes, lr, EMA,
  // checkpoints, grids) works as for a fine-tune.
  bool distill = false;
  int distill_steps = 0;
  int distill_substeps = 2;           // the teacher's steps per student step
  bool distill_stochastic = false;    // step distillation for DPM-Solver++ SDE steps, not DDIM
  float distill_guidance_min = 1, distill_guidance_max = 5;  // the student's guidance range
  // Fine-tunes: when init_model has a Live student (find_student, ddpm/student_transfer.h),
  // write student_path_for(out_model) from it moved by this fine-tune's change, so hosts stream
  // the new style at one forward a stage at once (`distill` for minutes gives a closer one).
  bool live_student = true;
  // Fine-tunes: the model written (and the grids shown) is init + strength * (tuned - init), a
  // blend of the tuned EMA weights with the init model's (ddpm/fine_tune_blend.h); 1 = the tuned
  // weights, below 1 keeps more of the init model, above 1 extrapolates. The checkpoint keeps
  // the tuned weights, so a resumed run continues them. -1 (auto): 0.85 for fine-tunes through
  // adapters (measured: FD 1.84 -> 1.63 on a 10-minute OpenMoji fine-tune, tests/bench/NOTES.md),
  // 1 otherwise (a fine-tune of every weight blended at 0.85 doubled its distance).
  double strength = -1;
  bool freeze = false;                // fine-tuning: train only the class embedding and the
                                      // last Up block and output convolution
  int lora_rank = -1;                 // fine-tuning: > 0 trains low-rank adapters of this rank
                                      // (ddpm/lora.h) instead of the large weights; the model
                                      // file holds the merged weights. 0 = every weight. -1
                                      // (auto): 0, measured level or better per CPU minute
                                      // (tests/bench/NOTES.md); a resumed run keeps its
                                      // checkpoint's
  int64_t steps = 1000;               // optimizer steps in all (a resumed run continues to it)
  double minutes = 0;                 // > 0: a time budget instead of `steps`: the run measures its
                                      // own speed and picks the step count so that it ends, model
                                      // written, within this many minutes of starting (warm-up,
                                      // decay and EMA fit the picked count); 0 = use `steps`
  // The recipe: values of -1 (or 0 for batch and lr) are automatic, decided by resolved() from
  // the kind of run: a new model, a fine-tune (init_model), a LoRA fine-tune, a distillation.
  // The fine-tune values are the ones measured best per CPU minute on a style the model never
  // saw (tests/bench/NOTES.md, "Fine-tuning per CPU minute").
  int batch = 0;                      // 0 (auto): 32 for fine-tunes and distillation, 16 otherwise
  double lr = 0;                      // 0 (auto): 3e-4 for a new model, 5e-4 for fine-tunes of
                                      // every weight (the default), 2e-3 for those through LoRA
                                      // adapters, 5e-5 for distillation
  int64_t warmup = -1;                // linear learning-rate warm-up steps. -1 (auto): 0 for a new
                                      // model trained for `steps`; 50 (at most a quarter of the
                                      // steps) for fine-tunes and time budgets: a fresh AdamW moves
                                      // every weight by about lr in its first steps, which jolts a
                                      // trained model (measured in tests/bench/NOTES.md)
  double decay_from = -1;             // fraction of the steps after which the learning rate
                                      // falls linearly to 0 at the end (1 = constant); -1 (auto):
                                      // 0.5 for fine-tunes, 1 otherwise
  double grad_clip = -1;              // max gradient norm; 0 = off; -1 (auto): 1 for fine-tunes,
                                      // 0 otherwise
  double label_drop = 0.1;            // probability of training a label as "no class"
  double ema_decay = 0.995;
  int64_t ema_start = -1;             // EMA copies the weights until this step. -1 (auto): 2000, the
                                      // reference's, for a new model trained for `steps`; 0 with
                                      // ema_warmup for fine-tunes and time budgets, which are often
                                      // shorter than 2000 steps and would end on the raw weights
  bool ema_warmup = false;            // after ema_start, the decay rises as min(ema_decay,
                                      // (1 + n) / (10 + n)), n steps in: a short run's EMA
                                      // averages instead of lagging behind the weights
  double snr_gamma = 0;               // > 0: min-SNR-gamma loss weighting (see loss.h)
  bool pixel_art = false;             // nearest-neighbour fit, no crop
  bool flip = false;                  // random horizontal flips
  int random_crop = -1;               // 1: the reference's random resized crops (scale 0.8-1,
                                      // aspect 3/4-4/3 of a 1.25x copy); 0: each image whole.
                                      // -1 (auto): whole for fine-tunes (a crop zooms and
                                      // stretches, and a short run's samples copy that: FD 4.55
                                      // -> 2.74 on a new style, tests/bench/NOTES.md) and
                                      // distillation, crops otherwise
  int bf16 = -1;                      // 1: bf16 mixed precision on the CPU (convolutions and
                                      // products in bfloat16, weights and loss in float32;
                                      // needs AVX512-BF16; 1.5-1.6x the images per second); 0:
                                      // float32. -1 (auto): bf16 on such a CPU (measured in
                                      // tests/bench/NOTES.md; for distillation 1.1-1.2x the speed,
                                      // 2-3 % more loss at equal steps, and a 14-minute student
                                      // scored as the float32 one), but float32 for data-parallel
                                      // runs and on CUDA
  uint64_t seed = 0;
  std::string checkpoint;             // training checkpoint; resumed from when it exists
  int64_t checkpoint_every = 500;
  std::string out_model;              // model file written at the end (EMA weights)
  std::string sample_dir;             // sample grids (EMA weights, DPM-Solver++ 20) of the folder's
                                      // classes go here: one of the starting model (step_0.png)
                                      // for a fine-tune, and one of the final model
  int64_t sample_every = 0;           // 0 = only the final one
  int threads = 0;                    // intra-op threads; 0 = all cores
  std::string device = "auto";        // "auto" (CUDA when there is one, but CPU for data-parallel
                                      // runs, whose collectives are CPU-only), "cpu", "cuda[:N]".
                                      // Noise is drawn on the CPU from the seed either way and the
                                      // checkpoint resumes on any device.
  // Data-parallel training (world_size > 1): each rank computes its slice of every batch
  // (`batch` is the global batch, divisible by world_size), gradients are averaged with an
  // all-reduce, rank 0 alone writes checkpoints, grids and the model, and the run equals a
  // one-process run with the same batch and seed up to float rounding.
  DistributedOptions distributed;

  void validate() const;  // throws ddpm::Error naming the option and its allowed range
};

struct TrainProgress {
  int64_t step = 0, total = 0;
  double loss = 0;             // this step's
  double loss_smoothed = 0;    // exponential moving average over ~50 steps, bias-corrected
  double images_per_second = 0;
  double eta_seconds = 0;
  std::string sample_grid;     // the latest grid written, if any
  std::string message;         // e.g. "loaded 60 images in 3 classes", "skipped x.png: ..."
  // Distributed runs: the sum of all weights after this step (equal on every rank, which a
  // test checks), and the seconds spent in collectives so far.
  double replica_checksum = 0;
  double communication_seconds = 0;
};
using TrainObserver = std::function<void(const TrainProgress&)>;

struct TrainResult {
  int64_t steps_done = 0;  // the step reached (counting steps of earlier, resumed runs)
  bool cancelled = false;
  io::ModelInfo info;      // of the model written
  std::string student;     // the Live student written beside it (live_student), or ""
  std::vector<std::string> skipped;  // files of the folder that did not decode, with reasons
};

// The options with their automatic values decided (lora_rank, batch, lr, warmup, decay_from,
// grad_clip, random_crop, bf16, ema_start).
TrainOptions resolved(const TrainOptions& options);

// The EMA decay applied after `step` steps (1-based): 0 (a copy of the weights) up to
// ema_start, then ema_decay, or with ema_warmup min(ema_decay, (1 + n) / (10 + n)) for the
// n-th step after ema_start (of the resolved options).
double ema_decay_at(const TrainOptions& options, int64_t step);

// Runs until options.steps, a cancel (checked between steps), or an error. On cancel the
// checkpoint (when one is configured) and the output model are written before returning.
TrainResult train(const TrainOptions& options, const TrainObserver& observer = {},
                  const std::atomic<bool>* cancel = nullptr);

}  // namespace ddpm
