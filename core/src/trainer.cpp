#include "ddpm/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "ddpm/dataset.h"
#include "ddpm/distill.h"
#include "ddpm/distributed.h"
#include "ddpm/overlapped_average.h"
#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/fine_tune_blend.h"
#include "ddpm/lora.h"
#include "ddpm/loss.h"
#include "ddpm/model_file.h"
#include "ddpm/model_sampling.h"
#include "ddpm/precision.h"
#include "ddpm/runtime.h"
#include "ddpm/sampler.h"
#include "ddpm/student_transfer.h"
#include "ddpm/tensor_image.h"
#include "ddpm/training_checkpoint.h"
#include "fine_tune_change.h"
#include "mixed_precision.h"
#include "split_backward.h"

namespace ddpm {
namespace {

std::string percent_text(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %%", 100 * fraction);
  return text;
}

using clk = std::chrono::steady_clock;

// The folder's class names mapped onto the model's: known names keep their index, new ones
// are appended. Returns the label map (folder index -> model index).
std::vector<int64_t> merge_classes(std::vector<std::string>& model_names,
                                   const std::vector<std::string>& folder_names) {
  std::vector<int64_t> map;
  for (const auto& n : folder_names) {
    auto it = std::find(model_names.begin(), model_names.end(), n);
    if (it == model_names.end()) it = model_names.insert(model_names.end(), n);
    map.push_back(it - model_names.begin());
  }
  return map;
}

// A fresh training state whose weights come from `source` (a model file): every tensor but the
// class embedding is copied; embedding rows of known classes are copied too, and a new class
// named PARENT.NAME starts from its parent's row (a subclass starts as the class it refines,
// not from a random row; the nearest ancestor among the classes, e.g. "a" for "a.b.c" when
// there is no "a.b"). `names`: the merged classes, the source's first.
void copy_for_fine_tuning(TrainingState& s, const Model& source, const std::vector<std::string>& names) {
  torch::NoGradGuard no_grad;
  auto own = state_dict(*s.model);
  for (const auto& [name, value] : state_dict(*source.unet)) {
    auto it = own.find(name);
    if (it == own.end()) continue;
    if (name == "label_emb.weight") {
      const int64_t rows = std::min(value.size(0), it->second.size(0));
      it->second.narrow(0, 0, rows).copy_(value.narrow(0, 0, rows));
      // New classes come after the known ones, in folder order, so a parent added in the same
      // run ("a.b" before "a.b.c") has its row already; the nearest named ancestor counts.
      const auto first_new = names.begin() + static_cast<std::ptrdiff_t>(source.info.class_names.size());
      for (auto n = first_new; n != names.end(); ++n) {
        for (std::size_t dot = n->rfind('.'); dot != std::string::npos && dot > 0; dot = n->rfind('.', dot - 1)) {
          const auto parent = std::find(names.begin(), n, n->substr(0, dot));
          if (parent == n) continue;
          it->second[n - names.begin()].copy_(it->second[parent - names.begin()]);
          break;
        }
      }
    } else if (it->second.sizes() == value.sizes()) {
      it->second.copy_(value);
    } else {
      throw Error("cannot fine-tune: tensor '" + name + "' has shape " + c10::str(value.sizes()) +
                  " in the model but " + c10::str(it->second.sizes()) + " in the new network");
    }
  }
  load_state_dict(*s.ema, state_dict(*s.model), "(copy)");
}

// A fine-tune's Live student (TrainOptions::live_student): its base's student moved by the
// change of `written` (the model written) from `base` (the init model; null when a resumed run
// has none, for the reason `no_base`). Not having one is no error: the run's model is what was
// asked for, so a mismatch is only said.
std::string write_live_student(const TrainOptions& o, const Model* base, const std::string& no_base,
                               const Model& written, torch::Device device,
                               const std::function<void(const std::string&)>& say) {
  const std::string from = find_student(o.init_model);
  if (from.empty()) return "";
  if (!base) {
    say("no Live student for " + o.out_model + ": " + no_base);
    return "";
  }
  try {
    const Model student = load_model(from, device);
    Model out = transfer_student(*base, written, student);
    const std::string path = student_path_for(o.out_model);
    save_model(path, out.unet, out.info);
    say("wrote " + path + ": the Live student of this model (" + from +
        " moved by this fine-tune's change; distilling for 3 minutes makes a closer one)");
    return path;
  } catch (const Error& e) {
    say("no Live student for " + o.out_model + ": " + e.what());
    return "";
  }
}

void freeze_all_but_head(UNet& model) {
  const int last_up = model->config().levels();
  const std::string keep[] = {"label_emb.", "outc.", "up" + std::to_string(last_up) + "."};
  for (auto& p : model->named_parameters()) {
    bool trainable = false;
    for (const auto& k : keep) trainable = trainable || p.key().rfind(k, 0) == 0;
    p.value().set_requires_grad(trainable);
  }
}

// Before any work: a bad output path is found now, not after the run. The sample-grid folder is
// made at the first grid, so that a run failing before it leaves nothing behind.
void check_outputs(const TrainOptions& o) {
  if (!o.out_model.empty()) io::check_output_path(o.out_model, "model file");
  if (!o.checkpoint.empty()) io::check_output_path(o.checkpoint, "training checkpoint");
  if (o.sample_dir.empty()) return;
  std::error_code ec;
  std::filesystem::path existing = o.sample_dir;
  while (!existing.empty() && !std::filesystem::exists(existing, ec)) existing = existing.parent_path();
  if (existing.empty()) existing = ".";
  if (!std::filesystem::is_directory(existing, ec)) {
    throw Error("cannot write sample grids to '" + o.sample_dir + "': " +
                (existing == o.sample_dir ? std::string("it is not a folder") : "'" + existing.string() + "' is not a folder"));
  }
}

// The EMA follows the weights the model computes with (a LoRA run's merged ones).
void update_ema(UNet& ema, UNet& model, const LoraAdapter* lora, double decay) {
  torch::NoGradGuard no_grad;
  auto e = ema->parameters();
  auto m = model->named_parameters();
  for (std::size_t i = 0; i < e.size(); ++i) {
    const torch::Tensor w = lora ? lora->effective(m[i].key(), m[i].value()) : m[i].value();
    if (decay == 0) e[i].copy_(w);
    else e[i].mul_(decay).add_(w, 1 - decay);
  }
}

// A resumed run with the automatic lora_rank continues as it began: through the adapters its
// checkpoint holds (fine-tunes took them by default until 2026-12-07), or of every weight.
// A checkpoint that cannot be read, or whose rank the adapters refuse, is left to the resume
// itself, which names the problem after the checks of the other paths.
TrainOptions with_checkpoint_lora_rank(TrainOptions o) {
  if (o.lora_rank != -1 || o.checkpoint.empty() || !std::filesystem::is_regular_file(o.checkpoint)) return o;
  try {
    const std::optional<int> rank = training_checkpoint_lora_rank(o.checkpoint);
    if (!rank) o.lora_rank = 0;
    else if (*rank >= 1 && *rank <= LoraAdapter::kMaxRank) o.lora_rank = *rank;
  } catch (const std::exception&) {
  }
  return o;
}

}  // namespace

// The fine-tuning recipe measured best per CPU minute (tests/bench/NOTES.md): every weight at
// 5e-4 by default; adapters, when asked for, at 2e-3 and written blended at 0.85.
constexpr double kAdapterStrength = 0.85;

TrainOptions resolved(const TrainOptions& options) {
  TrainOptions o = options;
  const bool fine_tune = !o.init_model.empty() && !o.distill;
  if (o.lora_rank < 0) o.lora_rank = 0;
  // Distillation takes a fine-tune's batch and whole images: the shipped student's recipe
  // (scripts/distill-default-model.sh), and a 3-minute student of an OpenMoji fine-tune scored
  // as its teacher with them (tests/bench/NOTES.md).
  if (o.batch == 0) o.batch = fine_tune || o.distill ? 32 : 16;
  if (o.strength < 0) o.strength = fine_tune && o.lora_rank > 0 ? kAdapterStrength : 1.0;
  if (o.lr == 0) o.lr = o.distill ? 5e-5 : !fine_tune ? 3e-4 : o.lora_rank > 0 ? 2e-3 : 5e-4;
  if (o.decay_from < 0) o.decay_from = fine_tune ? 0.5 : 1.0;
  if (o.grad_clip < 0) o.grad_clip = fine_tune ? 1.0 : 0.0;
  if (o.random_crop < 0) o.random_crop = fine_tune || o.distill ? 0 : 1;
  // Data-parallel runs keep float32: they equal a one-process run up to float32 rounding.
  if (o.bf16 < 0) o.bf16 = !o.distributed.enabled() && bf16_native() ? 1 : 0;
  const bool short_run = !o.init_model.empty() || o.minutes > 0;
  if (o.ema_start < 0) {
    o.ema_start = short_run ? 0 : 2000;
    o.ema_warmup = o.ema_warmup || short_run;
  }
  if (o.warmup < 0) {
    constexpr int64_t kFineTuneWarmup = 50;
    o.warmup = !short_run ? 0 : o.minutes > 0 ? kFineTuneWarmup : std::min(kFineTuneWarmup, o.steps / 4);
  }
  return o;
}

double ema_decay_at(const TrainOptions& o, int64_t step) {
  if (o.ema_start < 0) return ema_decay_at(resolved(o), step);  // train() passes resolved options
  const int64_t n = step - o.ema_start;
  if (n <= 0) return 0;
  return o.ema_warmup ? std::min(o.ema_decay, (1.0 + n) / (10.0 + n)) : o.ema_decay;
}

void TrainOptions::validate() const {
  const auto bad = [](const std::string& what, const std::string& value, const std::string& allowed) {
    throw Error("training option " + what + " = " + value + " is invalid: " + allowed);
  };
  if (assets.empty()) throw Error("training needs an asset folder (one subfolder per class)");
  if (steps < 1 || steps > 100'000'000) bad("steps", std::to_string(steps), "allowed 1 to 1e8");
  if (batch < 0 || batch > 4096) bad("batch", std::to_string(batch), "allowed 0 (auto) or 1 to 4096");
  if (!(lr >= 0 && lr < 1)) bad("lr", number_text(lr), "allowed 0 (auto) or (0, 1)");
  if (warmup < -1) bad("warmup", std::to_string(warmup), "must be -1 (auto) or at least 0");
  if (!(grad_clip >= 0 || grad_clip == -1)) bad("grad_clip", number_text(grad_clip), "allowed -1 (auto), 0 (off) or more");
  if (!(label_drop >= 0 && label_drop <= 1)) bad("label_drop", number_text(label_drop), "allowed 0 to 1");
  if (!(ema_decay >= 0 && ema_decay < 1)) bad("ema_decay", number_text(ema_decay), "allowed [0, 1)");
  if (!((decay_from >= 0 && decay_from <= 1) || decay_from == -1)) bad("decay_from", number_text(decay_from), "allowed -1 (auto) or 0 to 1");
  if (random_crop < -1 || random_crop > 1) bad("random_crop", std::to_string(random_crop), "allowed -1 (auto), 0 (off) or 1 (on)");
  if (bf16 < -1 || bf16 > 1) bad("bf16", std::to_string(bf16), "allowed -1 (auto), 0 (float32) or 1 (bf16)");
  if (bf16 == 1 && !bf16_native()) {
    bad("bf16", "1", "this CPU does not multiply bfloat16 natively (no AVX512-BF16), where bf16 is slower than float32");
  }
  if (ema_start < -1) bad("ema_start", std::to_string(ema_start), "must be -1 (auto) or at least 0");
  if (!(minutes >= 0 && minutes <= 1e6)) bad("minutes", number_text(minutes), "allowed 0 (use steps) to 1e6");
  if (!(snr_gamma >= 0 && snr_gamma <= 1e6)) bad("snr_gamma", number_text(snr_gamma), "allowed 0 (off) to 1e6");
  if (checkpoint_every < 1) bad("checkpoint_every", std::to_string(checkpoint_every), "must be at least 1");
  if (sample_every < 0) bad("sample_every", std::to_string(sample_every), "must not be negative");
  if (image_size < 0) bad("image_size", std::to_string(image_size), "must not be negative (0 = preset)");
  if (device != "auto" && device != "cpu" && device.rfind("cuda", 0) != 0) {
    bad("device", "'" + device + "'", "allowed 'auto', 'cpu', 'cuda' or 'cuda:N'");
  }
  distributed.validate();
  if (distributed.enabled() && device.rfind("cuda", 0) == 0) {
    bad("device", "'" + device + "'", "data-parallel runs train on the CPU (their collectives are Gloo's over TCP)");
  }
  if (lora_rank > 0 || lora_rank < -1) {
    if (lora_rank < -1 || lora_rank > LoraAdapter::kMaxRank) {
      bad("lora_rank", std::to_string(lora_rank),
          "allowed -1 (auto), 0 (train every weight) or 1 to " + std::to_string(LoraAdapter::kMaxRank));
    }
    if (init_model.empty()) bad("lora_rank", std::to_string(lora_rank), "adapters fine-tune a model: give the init model");
    if (distill || freeze) bad("lora_rank", std::to_string(lora_rank), distill ? "distillation trains the whole student" : "use either freeze or adapters");
    if (distributed.enabled()) bad("lora_rank", std::to_string(lora_rank), "adapters train in one process");
  }
  if (!(strength == -1 || (strength > 0 && strength <= 2))) {
    bad("strength", number_text(strength), "allowed -1 (auto) or more than 0 up to 2 (1 = the tuned weights)");
  }
  if (strength != -1 && strength != 1 && (init_model.empty() || distill)) {
    bad("strength", number_text(strength), "it blends a fine-tune with its init model: give the init model (not for distillation)");
  }
  if (distill_steps != 0 && !distill) bad("distill_steps", std::to_string(distill_steps), "needs distill on");
  if (distill) {
    if (distill_steps < 0 || distill_steps > 1000) bad("distill_steps", std::to_string(distill_steps), "allowed 0 (guidance only) to 1000");
    if (init_model.empty()) bad("distill", "on", "distillation needs a teacher: the init model");
    if (distributed.enabled()) bad("distill", "on", "distillation runs in one process");
    if (freeze) bad("freeze", "true", "distillation trains the whole student");
    if (snr_gamma > 0) bad("snr_gamma", number_text(snr_gamma), "distillation has its own loss weighting: use 0");
    if (distill_substeps < 1 || distill_substeps > 64) bad("distill_substeps", std::to_string(distill_substeps), "allowed 1 to 64");
    if (!(distill_guidance_min >= 1 && distill_guidance_min <= distill_guidance_max && distill_guidance_max <= 100)) {
      bad("distill_guidance_min/max", number_text(distill_guidance_min) + " to " + number_text(distill_guidance_max),
          "need 1 <= min <= max <= 100");
    }
  }
  if (batch > 0 && batch % distributed.world_size != 0) {
    bad("batch", std::to_string(batch),
        "must be divisible by the world size " + std::to_string(distributed.world_size) + " (it is the global batch)");
  }
}

TrainResult train(const TrainOptions& options, const TrainObserver& observer,
                  const std::atomic<bool>* cancel) {
  const auto entered = clk::now();  // a time budget counts image loading too
  options.validate();
  const TrainOptions o = resolved(with_checkpoint_lora_rank(options));
  o.validate();  // the automatic batch, too, must divide among the ranks
  init_runtime(o.threads);
  TrainProgress progress;
  const auto say = [&](const std::string& m) {
    progress.message = m;
    if (observer) observer(progress);
    progress.message.clear();
  };

  std::unique_ptr<ProcessGroup> group;
  if (o.distributed.enabled()) {
    group = std::make_unique<ProcessGroup>(o.distributed);
    say("rank " + std::to_string(group->rank()) + " of " + std::to_string(group->size()) + " joined at " +
        o.distributed.master_addr + ":" + std::to_string(o.distributed.master_port));
  }
  const bool writer = !group || group->rank() == 0;  // checkpoints, grids and the model
  if (writer) check_outputs(o);
  const torch::Device device = select_device(group ? "cpu" : o.device);
  if (device.is_cuda()) say("training on " + device.str());
  if (device.is_cuda() && options.bf16 == 1) {
    throw Error("training option bf16 = 1 is for CPU training: CUDA trains in float32 (give bf16 = -1 or 0)");
  }
  const bool bf16 = o.bf16 == 1 && device.is_cpu();
  if (bf16) say("bf16 mixed precision: convolutions and products in bfloat16, weights in float32 (option bf16 = 0: float32)");

  // The model: resumed from the checkpoint, fine-tuned from a model file, or new.
  const bool resume = !o.checkpoint.empty() && std::filesystem::exists(o.checkpoint);
  if (group) {  // every rank must make the same choice as rank 0
    torch::Tensor flag = torch::tensor({resume ? 1 : 0});
    group->broadcast({flag});
    if ((flag.item<int>() != 0) != resume) {
      throw Error("rank " + std::to_string(group->rank()) + ": the checkpoint '" + o.checkpoint + "' is " +
                  (resume ? "here but not on rank 0" : "on rank 0 but not visible here") +
                  "; every rank must see the same checkpoint path");
    }
  }
  std::unique_ptr<Model> source;
  io::ModelInfo info;
  const bool distill = o.distill;
  DistillSpec spec{o.distill_steps, o.distill_substeps, o.distill_guidance_min, o.distill_guidance_max,
                   o.distill_stochastic, default_student_spacing(o.distill_stochastic)};
  // A fine-tune's base, for the blend and the Live student, and a distillation's teacher. A
  // resumed fine-tune loads it again, unless that run wrote its model over it; it fails when
  // the base is unreadable only if it blends (a Live student is only said to be missing).
  const bool fine_tune = !distill && !o.init_model.empty();
  std::error_code same_ec;
  std::string no_base;  // why a resumed fine-tune has no base
  if (resume && fine_tune && std::filesystem::equivalent(o.init_model, o.out_model, same_ec)) {
    no_base = "this resumed run wrote over its init model, the base it needs";
  } else if (distill || fine_tune) {
    try {
      source = std::make_unique<Model>(load_model(o.init_model, device));
    } catch (const Error& e) {
      if (!resume || distill) throw;
      if (o.strength != 1) {
        throw Error(std::string(e.what()) + " (the resumed fine-tune blends its model with this base at strength " +
                    number_text(o.strength) + "; strength 1 writes the tuned weights alone)");
      }
      no_base = e.what();
    }
    if (!distill && source && source->info.unet.guidance_input) {
      throw Error("'" + o.init_model + "' is a distilled model: fine-tune its teacher and distil again");
    }
  }
  std::optional<TrainingState> resumed;  // read once, checked here, trained below
  if (resume) {
    resumed = load_training_checkpoint(o.checkpoint, device);
    info = resumed->info;
    if (distill != info.unet.guidance_input || (distill && info.distilled_steps != o.distill_steps)) {
      throw Error("checkpoint '" + o.checkpoint + "' is of " +
                  (info.unet.guidance_input ? "a distillation for " + std::to_string(info.distilled_steps) + " steps" : "ordinary training") +
                  ": resume it with the same kind of run, or give a new checkpoint path");
    }
    if (distill) spec.spacing = spacing_from_string(info.distilled_spacing);  // the grid it began on
  } else if (distill) {
    info = student_info(source->info, spec);
    say("distilling " + o.init_model + ": guidance " + number_text(spec.guidance_min) + " to " +
        number_text(spec.guidance_max) + " as an input" +
        (o.distill_steps > 0 ? ", " + std::to_string(o.distill_steps) + (o.distill_stochastic ? " SDE" : " DDIM") +
                                   " steps on the " + to_string(spec.spacing) + " grid (the teacher takes " +
                                   std::to_string(o.distill_substeps) + " for each)" : std::string()));
  } else if (source && !resume) {
    info = source->info;
  } else if (o.architecture) {
    info.unet = *o.architecture;
  } else {
    info.unet = preset_by_name(o.preset, 0);
    if (o.image_size > 0) info.unet.image_size = o.image_size;
  }
  if (!resume) info.training_step = 0;  // a fine-tuning run counts its own steps
  info.snr_gamma = o.snr_gamma;
  // Before the asset folder is decoded at 1.25x its image_size: a bad size (e.g. 4112, over the
  // 4096 limit, from the C ABI) was refused only after every image was loaded at up to 8192 px
  // (~16 s and ~1 GB for two images under ASan; found by fuzz_abi_params).
  info.unet.validate();

  DatasetOptions dopts;
  dopts.image_size = info.unet.image_size;
  dopts.channels = info.unet.in_channels;
  dopts.pixel_art = o.pixel_art;
  dopts.flip = o.flip;
  dopts.random_crop = o.random_crop != 0;
  dopts.progress = [&](std::size_t done, std::size_t all) {
    // Every tenth of a large folder; small ones load in a blink.
    if (all >= 200 && (done * 10 / all != (done - 1) * 10 / all || done == all)) {
      say("loading images: " + std::to_string(done) + "/" + std::to_string(all));
    }
  };
  const AssetDataset data(o.assets, dopts);
  TrainResult result;
  result.skipped = data.skipped();
  for (const auto& s : data.skipped()) say("skipped " + s);
  say("loaded " + std::to_string(data.size()) + " images in " +
      std::to_string(data.class_names().size()) + " classes from " + o.assets);

  std::vector<std::string> names = info.class_names;
  const std::vector<int64_t> label_map = merge_classes(names, data.class_names());
  if (distill && names.size() != info.class_names.size()) {
    throw Error("the folder has classes the teacher does not know (distillation cannot add classes): " +
                names_text({names.begin() + static_cast<std::ptrdiff_t>(info.class_names.size()), names.end()}));
  }
  if (resume && names.size() != info.class_names.size()) {
    throw Error("checkpoint '" + o.checkpoint + "' does not know the folder's classes; it has: " +
                names_text(info.class_names));
  }
  info.class_names = names;
  info.unet.num_classes = static_cast<int>(names.size());

  torch::optim::AdamWOptions adam(o.lr);
  adam.weight_decay(0.01);
  TrainingState s = resume ? std::move(*resumed) : make_training_state(info, adam, o.seed, device);
  resumed.reset();
  if (info.unet.in_channels == 4) {
    const AlphaCoverage alpha = data.alpha_coverage();
    s.info.alpha_cutoff = alpha.cutoff();
    say("training images: " + percent_text(alpha.transparent) + " of pixels fully transparent, " +
        percent_text(alpha.faint) + " faint (alpha below " + number_text(kAlphaCutoff) + "): " +
        (s.info.alpha_cutoff > 0 ? "samples' alpha below " + number_text(s.info.alpha_cutoff) + " will be cleared"
                                 : std::string("samples' alpha kept as drawn")));
  }
  if (!resume && source) copy_for_fine_tuning(s, *source, names);
  if (distill) source->unet->eval();
  if (o.freeze) freeze_all_but_head(s.model);
  if (const int rank = s.lora ? s.lora->rank() : 0; resume && rank != o.lora_rank) {
    throw Error("checkpoint '" + o.checkpoint + "' is of a run with " +
                (rank > 0 ? "LoRA rank " + std::to_string(rank) : std::string("every weight trained")) +
                ": resume it with lora_rank " + std::to_string(rank) + " (CLI --lora " + std::to_string(rank) +
                "), or give a new checkpoint path");
  }
  if (!resume && o.lora_rank > 0) s.lora = std::make_unique<LoraAdapter>(s.model, o.lora_rank, s.generator);
  std::vector<torch::Tensor> trainable;
  int64_t trainable_count = 0;
  for (const auto& [name, p] : optimized_parameters(s)) {
    if (!p.requires_grad()) continue;
    trainable.push_back(p);
    trainable_count += p.numel();
  }
  if ((o.freeze || o.lora_rank > 0) && !resume) s.optimizer = std::make_unique<torch::optim::AdamW>(trainable, adam);
  if (s.lora) {
    say("fine-tuning through LoRA adapters of rank " + std::to_string(s.lora->rank()) + ": " +
        std::to_string(trainable_count) + " trainable parameters (the model has " +
        std::to_string(s.model->parameter_count()) + ")");
  } else if (fine_tune) {
    say(std::string("fine-tuning ") + (o.freeze ? "the class embedding and the last block" : "every weight") + ": " +
        std::to_string(trainable_count) + " trainable parameters (lora_rank > 0: low-rank adapters instead)");
  }
  const torch::Tensor label_lut = torch::tensor(label_map);
  s.model->train();
  if (group) {  // rank 0's weights, EMA, step and generator everywhere
    std::vector<torch::Tensor> shared;
    for (auto& p : s.model->parameters()) shared.push_back(p.data());
    for (auto& p : s.ema->parameters()) shared.push_back(p.data());
    torch::Tensor step = torch::tensor({s.info.training_step});
    torch::Tensor gen_state = s.generator.get_state();
    shared.push_back(step);
    shared.push_back(gen_state);
    group->broadcast(shared);
    s.info.training_step = step.item<int64_t>();
    s.generator.set_state(gen_state);
  }
  std::unique_ptr<OverlappedAverage> overlap;  // gradients averaged while backward runs
  if (group) {
    std::vector<torch::Tensor> trainable;
    for (auto& p : s.model->parameters()) if (p.requires_grad()) trainable.push_back(p);
    overlap = std::make_unique<OverlappedAverage>(*group, trainable);
  }
  const int ranks = group ? group->size() : 1;
  const int local_batch = o.batch / ranks;
  const int first_row = group ? group->rank() * local_batch : 0;
  // A CPU step of one process runs its rows in slices, one per thread (split_backward.h): the
  // same draws and, up to float rounding, the same step (a distillation's teacher targets
  // too). Data-parallel ranks (one thread each) run the whole batch.
  const int split_parts = !group && device.is_cpu() ? std::min(calling_thread_threads(), local_batch) : 1;

  // What a run writes and shows: the EMA, for a fine-tune blended with its base
  // (TrainOptions::strength); the checkpoint keeps the EMA itself.
  const bool blend = fine_tune && o.strength != 1;
  if (blend && !source) say("the model is not blended with " + o.init_model + ": " + no_base);
  if (blend && source) say("the model written is blended with " + o.init_model + " at strength " + number_text(o.strength) + " (1: the tuned weights alone)");
  const auto written = [&](const io::ModelInfo& info) {
    Model tuned;
    tuned.info = info;
    tuned.unet = s.ema;
    return blend && source ? blend_fine_tune(*source, tuned, o.strength) : tuned;
  };
  const auto save_checkpoint = [&] {
    if (writer && !o.checkpoint.empty()) save_training_checkpoint(o.checkpoint, s);
  };
  // Four samples of each of the folder's classes (a fine-tune shows what it is tuning).
  double grid_seconds = 0;  // the latest grid's cost, kept back from a time budget for the last
  int64_t grid_step = -1;
  const auto write_grid = [&](int64_t step) {
    if (!writer || o.sample_dir.empty() || grid_step == step) return;
    const auto t0 = clk::now();
    std::error_code ec;
    std::filesystem::create_directories(o.sample_dir, ec);  // a failure shows when the grid is saved
    SampleOptions so;
    for (int64_t c : label_map) {
      for (int i = 0; i < 4; ++i) so.classes.push_back(s.info.unet.conditional() ? c : -1);
    }
    if (so.classes.empty()) so.classes.assign(4, -1);
    so.batch = static_cast<int>(so.classes.size());
    so.sampler = SamplerKind::DPMSolverPP2MSDE;  // the best 20-step sampler (tests/bench/NOTES.md)
    so.clip_x0 = true;
    so.guidance = s.info.guidance;
    so.seed = o.seed;
    fit_to_model(so, s.info);  // a distilled student samples with its own steps
    const NoiseSchedule sched = make_schedule(s.info.schedule).to(device);
    const std::string path = o.sample_dir + "/step_" + std::to_string(step) + ".png";
    try {
      Model shown = written(s.info);
      save_grid_png(path, sample(shown.unet, sched, so).images, 4);
      progress.sample_grid = path;
      say("sample grid: " + path);  // the prefix is documented in the C ABI
    } catch (const Error& e) {  // a grid is a view of the run: losing one must not lose the run
      say(std::string("no sample grid this time: ") + e.what());
    }
    s.model->train();
    grid_seconds = std::chrono::duration<double>(clk::now() - t0).count();
    grid_step = step;
  };

  const NoiseSchedule schedule = make_schedule(s.info.schedule).to(device);
  const auto start = clk::now();
  const int64_t first_step = s.info.training_step;
  double loss_average = 0;  // of the losses, for progress.loss_smoothed
  // A time budget's step count, re-planned after every step from the speed measured since the
  // first (which pays for allocations); the learning-rate decay follows the plan. Until there
  // is a speed the plan is far away, so no decay starts early.
  const bool budget = o.minutes > 0;
  const auto deadline = entered + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.minutes * 60));
  constexpr int64_t kUnplanned = int64_t{1} << 50;
  int64_t total = budget ? kUnplanned : o.steps;
  clk::time_point after_first{};
  const auto plan_steps = [&](int64_t done) {  // `done` steps finished (or nearly: this one)
    const auto now = clk::now();
    if (done == first_step + 1) after_first = now;
    if (done < first_step + 2) return kUnplanned;
    const double rate = (done - first_step - 1) / std::max(1e-9, std::chrono::duration<double>(now - after_first).count());
    // Kept back for what is written after the last step: the model, and the final grid, whose
    // cost before one is measured is guessed from the step's: 20 guided steps (40 forwards) of
    // the grid's images against a training step's ~3 forward-equivalents of the batch.
    double final_grid = 0;
    if (writer && !o.sample_dir.empty()) {
      // (Small nets are overhead-bound and sample faster than that: at most 5 % of the budget.)
      final_grid = grid_seconds > 0 ? grid_seconds
                                    : std::min(3.0 * o.minutes, 40.0 * 4 * label_map.size() / (3.0 * local_batch * rate));
    }
    const double reserve = 0.5 + final_grid;
    const double left = std::chrono::duration<double>(deadline - now).count() - reserve;
    return done + static_cast<int64_t>(std::max(0.0, std::floor(rate * left)));
  };
  progress.total = budget ? 0 : o.steps;
  // A fine-tune's first grid is of the model it starts from: what the later ones are judged by.
  // (Not for a run cancelled while it loaded: it writes nothing new, no folder either.)
  if (source && !resume && !(cancel && cancel->load())) write_grid(0);
  while (s.info.training_step < total) {
    // A group stops together: a rank's request travels with this step's gradients and every
    // rank leaves after the same step (one rank leaving alone would strand the others).
    const bool cancel_requested = cancel && cancel->load();
    if (cancel_requested && !group) {
      result.cancelled = true;
      break;
    }
    bool stop_agreed = false;
    const int64_t step = s.info.training_step;
    double lr = o.lr;
    if (o.warmup > 0 && step < o.warmup) lr = o.lr * double(step + 1) / o.warmup;
    const double decay_start = o.decay_from * total;
    if (step >= decay_start && o.decay_from < 1.0) {
      lr *= (total - step) / std::max(1.0, total - decay_start);
    }
    for (auto& g : s.optimizer->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);

    // This rank's rows of the batch; every draw is made for the whole batch.
    auto [x0, labels] = data.batch_rows(o.batch, first_row, local_batch, s.generator);
    labels = label_lut.index_select(0, labels);
    if (s.info.unet.conditional()) {
      // Dropped labels train the unconditional branch that guidance needs.
      const torch::Tensor drop = torch::rand({o.batch}, s.generator, torch::kFloat32).narrow(0, first_row, local_batch);
      labels = torch::where(drop < o.label_drop, torch::full_like(labels, -1), labels);
    } else {
      labels = torch::full_like(labels, -1);
    }
    torch::Tensor loss;
    s.optimizer->zero_grad();
    if (split_parts > 1) {
      loss = distill ? split_distillation_backward(split_parts, s.model, source->unet, schedule, x0, labels, spec,
                                                   s.generator, bf16, trainable)
                     : split_diffusion_backward(split_parts, s.model, schedule, x0, labels, s.generator, o.batch,
                                                first_row, o.snr_gamma, bf16, trainable);
    } else {
      {
        const CpuAutocastScope mixed(bf16);  // the backward follows the forward's types
        loss = distill ? distillation_loss(s.model, source->unet, schedule, x0.to(device), labels.to(device), spec,
                                           s.generator)
                       : diffusion_loss_rows(s.model, schedule, x0.to(device), labels.to(device), s.generator,
                                             o.batch, first_row, o.snr_gamma);
      }
      if (overlap) overlap->begin();
      loss.backward();
    }
    int64_t plan = budget ? plan_steps(step + 1) : o.steps;
    if (group) {  // the mean of the ranks' gradients (and losses) is the whole batch's
      overlap->finish();
      // The ranks' plans are averaged too, so every rank follows the same one.
      torch::Tensor extra = torch::stack({loss.detach().to(torch::kFloat64),
                                          torch::tensor(cancel_requested ? 1.0 : 0.0, torch::kFloat64),
                                          torch::tensor(static_cast<double>(plan), torch::kFloat64)});
      group->average({extra});
      loss = extra[0];
      stop_agreed = extra[1].item<double>() > 0;
      plan = static_cast<int64_t>(std::llround(extra[2].item<double>()));
    }
    total = plan;
    if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(trainable, o.grad_clip);
    s.optimizer->step();
    ++s.info.training_step;
    update_ema(s.ema, s.model, s.lora.get(), ema_decay_at(o, s.info.training_step));

    progress.step = s.info.training_step;
    progress.loss = loss.item<double>();
    if (group) {
      torch::NoGradGuard no_grad;
      double sum = 0;
      for (auto& p : s.model->parameters()) sum += p.sum().item<double>();
      progress.replica_checksum = sum;
      progress.communication_seconds = group->communication_seconds();
    }
    // Bias-corrected, as Adam's moments: the mean of the losses so far at first, then mostly the
    // last ~50; an average started at the first (noisy) loss drew a curve that rose or fell for
    // its first hundred steps whatever the training did.
    loss_average = 0.98 * loss_average + 0.02 * progress.loss;
    progress.loss_smoothed = loss_average / (1 - std::pow(0.98, static_cast<double>(step - first_step + 1)));
    const double secs = std::chrono::duration<double>(clk::now() - start).count();
    const double steps_per_s = (progress.step - first_step) / std::max(secs, 1e-9);
    progress.images_per_second = steps_per_s * o.batch;
    progress.total = total == kUnplanned ? 0 : total;
    progress.eta_seconds = budget ? std::max(0.0, std::chrono::duration<double>(deadline - clk::now()).count())
                                  : (total - progress.step) / std::max(steps_per_s, 1e-9);
    if (progress.step % o.checkpoint_every == 0) save_checkpoint();
    if (o.sample_every > 0 && progress.step % o.sample_every == 0) write_grid(progress.step);
    if (observer) observer(progress);
    if (stop_agreed) {
      result.cancelled = true;
      break;
    }
  }
  if (!result.cancelled && s.info.training_step > first_step) write_grid(s.info.training_step);  // the final model's
  save_checkpoint();
  if (group) {
    const int64_t steps = s.info.training_step - first_step;
    say("rank " + std::to_string(group->rank()) + ": " + std::to_string(steps) + " steps, collectives " +
        number_text(group->communication_seconds() * 1e3 / std::max<int64_t>(1, steps)) + " ms a step");
  }
  if (writer && !o.out_model.empty()) {
    io::ModelInfo out = s.info;
    out.weights = "ema";
    Model model = written(out);
    save_model(o.out_model, model.unet, out);
    if (o.live_student && fine_tune) result.student = write_live_student(o, source.get(), no_base, model, device, say);
  }
  result.steps_done = s.info.training_step;
  result.info = s.info;
  return result;
}

}  // namespace ddpm
