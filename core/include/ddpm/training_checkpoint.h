#pragma once
// Training checkpoints: everything needed to resume exactly. One safetensors file holding the
// raw weights (`model.*`), the EMA weights (`ema.*`), AdamW's moments (`optim.<param>.*`)
// the CPU generator's state (`rng.cpu`), and a LoRA run's adapters (`lora.<weight>.lora_down`,
// `.lora_up`, rank in the metadata); the metadata holds the model description (with
// the step), the optimizer's hyper-parameters and the trainer's own options as JSON.
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>

#include "ddpm/io/model_info.h"
#include "ddpm/lora.h"
#include "ddpm/unet.h"

namespace ddpm {

struct TrainingState {
  io::ModelInfo info;  // info.training_step is the number of optimizer steps taken
  UNet model{nullptr};
  UNet ema{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer;
  at::Generator generator;    // draws batches, timesteps, noise and label drops
  std::string trainer_json = "{}";  // the trainer's options; opaque here
  std::unique_ptr<LoraAdapter> lora;  // a LoRA fine-tune's adapters on `model`, else null
};

// What the optimizer steps: the model's parameters, then the adapters' ("lora." + their
// names), the frozen ones included (AdamW skips a parameter without a gradient).
std::vector<std::pair<std::string, torch::Tensor>> optimized_parameters(const TrainingState& state);

// A fresh state: new weights from `info` (drawn after seeding LibTorch's global generator
// with `seed`), EMA equal to them, AdamW with `options`, and the generator seeded with `seed`.
TrainingState make_training_state(const io::ModelInfo& info, const torch::optim::AdamWOptions& options,
                                  uint64_t seed, torch::Device device = torch::kCPU);

// Atomic, like model files.
void save_training_checkpoint(const std::string& path, TrainingState& state);
TrainingState load_training_checkpoint(const std::string& path, torch::Device device = torch::kCPU);

// A LoRA run's adapter rank as its checkpoint's header gives it (unchecked), none for a run of
// every weight, without building the state. Throws as load_training_checkpoint does for a file
// that is not a training checkpoint.
std::optional<int> training_checkpoint_lora_rank(const std::string& path);

}  // namespace ddpm
