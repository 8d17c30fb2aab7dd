#include "ddpm/training_checkpoint.h"

#include <cstdio>
#include <mutex>
#include <optional>

#include <ATen/CPUGeneratorImpl.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <type_traits>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/io/file_bytes.h"
#include "ddpm/model_file.h"
#include "ddpm/tensor_bytes.h"

namespace ddpm {

namespace {

constexpr const char* kOptimizerKey = "optimizer";
constexpr const char* kTrainerKey = "trainer";
constexpr const char* kLoraRankKey = "lora_rank";
constexpr const char* kKindKey = "kind";  // "training-checkpoint": tells it from a model file
constexpr std::size_t kMaxCheckpointSize = std::size_t(8) << 30;

// AdamW keys its per-parameter state by the address of the parameter's TensorImpl: as a
// string in LibTorch 1.x, as the pointer itself in later versions.
using StateKey = std::decay_t<decltype(std::declval<torch::optim::AdamW&>().state())>::key_type;
template <typename Key = StateKey>
Key state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream o;
    o << p.unsafeGetTensorImpl();
    return o.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> optimized_parameters(const TrainingState& s) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : s.model->named_parameters()) out.emplace_back(p.key(), p.value());
  if (s.lora) {
    for (const auto& [name, value] : s.lora->named_parameters()) out.emplace_back("lora." + name, value);
  }
  return out;
}

TrainingState make_training_state(const io::ModelInfo& info, const torch::optim::AdamWOptions& options,
                                  uint64_t seed, torch::Device device) {
  info.validate();
  TrainingState s;
  s.info = info;
  {
    // The initial weights, too, follow from the seed; they come from LibTorch's one global
    // generator, so two states made at once (two training jobs of the plugin, two ranks in one
    // process) would interleave their draws without this lock.
    static std::mutex global_generator;
    std::lock_guard<std::mutex> lock(global_generator);
    torch::manual_seed(seed);
    s.model = UNet(info.unet);
    s.ema = UNet(info.unet);  // draws too (then overwritten): inside, not to disturb another's
  }
  s.model->to(device);
  s.ema->to(device);
  load_state_dict(*s.ema, state_dict(*s.model), "(copy)");
  for (auto& p : s.ema->parameters()) p.set_requires_grad(false);
  s.optimizer = std::make_unique<torch::optim::AdamW>(s.model->parameters(), options);
  s.generator = at::detail::createCPUGenerator(seed);
  return s;
}

void save_training_checkpoint(const std::string& path, TrainingState& s) {
  std::vector<TensorBytes> tensors;
  for (const auto& [name, value] : state_dict(*s.model)) tensors.emplace_back("model." + name, value);
  for (const auto& [name, value] : state_dict(*s.ema)) tensors.emplace_back("ema." + name, value);
  if (s.lora) {
    for (const auto& [name, value] : s.lora->named_parameters()) tensors.emplace_back("lora." + name, value.detach());
  }
  auto& opts = static_cast<torch::optim::AdamWOptions&>(s.optimizer->param_groups().at(0).options());
  for (const auto& [name, value] : optimized_parameters(s)) {
    const auto it = s.optimizer->state().find(state_key(value));
    if (it == s.optimizer->state().end()) continue;  // no step taken yet, or frozen
    const auto& st = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    const std::string base = "optim." + name + ".";
    tensors.emplace_back(base + "step", torch::tensor(st.step(), torch::kInt64));
    tensors.emplace_back(base + "exp_avg", st.exp_avg());
    tensors.emplace_back(base + "exp_avg_sq", st.exp_avg_sq());
    if (st.max_exp_avg_sq().defined()) tensors.emplace_back(base + "max_exp_avg_sq", st.max_exp_avg_sq());
  }
  tensors.emplace_back("rng.cpu", s.generator.get_state());
  const nlohmann::json optimizer = {
      {"lr", opts.lr()},           {"beta1", std::get<0>(opts.betas())},
      {"beta2", std::get<1>(opts.betas())}, {"eps", opts.eps()},
      {"weight_decay", opts.weight_decay()}, {"amsgrad", opts.amsgrad()}};
  auto metadata = io::to_metadata(s.info);
  metadata[kKindKey] = "training-checkpoint";
  metadata[kOptimizerKey] = optimizer.dump();
  metadata[kTrainerKey] = s.trainer_json;
  if (s.lora) metadata[kLoraRankKey] = std::to_string(s.lora->rank());
  io::write_file_atomic(path, encode_tensors(tensors, metadata));
}

namespace {

// The view of a checkpoint's bytes, refused by name when they are not a training checkpoint.
io::SafetensorsView checkpoint_view(const std::vector<std::uint8_t>& bytes, const std::string& path) {
  io::SafetensorsView view;
  try {
    view = io::parse_safetensors(bytes.data(), bytes.size(), path);
  } catch (const Error& e) {
    throw Error("'" + path + "' is not a training checkpoint: " + e.what());
  }
  const auto kind = view.metadata.find(kKindKey);
  if (kind == view.metadata.end() || kind->second != "training-checkpoint") {
    throw Error("'" + path + "' is a model file, not a training checkpoint: start a fine-tuning "
                "run from it instead of resuming");
  }
  return view;
}

// A LoRA run's rank as written (unchecked: the adapters check it), none for a run of every weight.
std::optional<int> lora_rank_of(const io::SafetensorsView& view, const std::string& path) {
  const auto rank = view.metadata.find(kLoraRankKey);
  if (rank == view.metadata.end()) return std::nullopt;
  int r = 0;
  if (std::sscanf(rank->second.c_str(), "%d", &r) != 1 || std::to_string(r) != rank->second) {
    throw Error("'" + path + "': LoRA rank '" + rank->second + "' is not a number");
  }
  return r;
}

}  // namespace

std::optional<int> training_checkpoint_lora_rank(const std::string& path) {
  const auto bytes = io::read_file(path, kMaxCheckpointSize);
  return lora_rank_of(checkpoint_view(bytes, path), path);
}

TrainingState load_training_checkpoint(const std::string& path, torch::Device device) {
  const auto bytes = io::read_file(path, kMaxCheckpointSize);
  const io::SafetensorsView view = checkpoint_view(bytes, path);
  const io::ModelInfo info = io::model_info_from_metadata(view.metadata, path);
  nlohmann::json o;
  try {
    o = nlohmann::json::parse(view.metadata.at(kOptimizerKey));
    torch::optim::AdamWOptions opts(o.at("lr").get<double>());
    opts.betas({o.at("beta1").get<double>(), o.at("beta2").get<double>()});
    opts.eps(o.at("eps").get<double>());
    opts.weight_decay(o.at("weight_decay").get<double>());
    opts.amsgrad(o.at("amsgrad").get<bool>());
    TrainingState s = make_training_state(info, opts, 0, torch::kCPU);
    const auto tensors = decode_tensors(view, path);
    load_state_dict(*s.model, tensors, path, "model.");
    load_state_dict(*s.ema, tensors, path, "ema.");
    s.model->to(device);
    s.ema->to(device);
    if (const std::optional<int> rank = lora_rank_of(view, path)) {
      s.lora = std::make_unique<LoraAdapter>(s.model, *rank, s.generator);
      torch::NoGradGuard no_grad;
      for (auto& [name, value] : s.lora->named_parameters()) {
        const auto it = tensors.find("lora." + name);
        if (it == tensors.end()) throw Error("'" + path + "' lacks the adapter 'lora." + name + "'");
        if (it->second.sizes() != value.sizes()) throw Error("'" + path + "': 'lora." + name + "' has the wrong shape");
        value.copy_(it->second);
      }
    }
    const auto rng = tensors.find("rng.cpu");  // after the adapters, whose creation draws
    if (rng == tensors.end()) throw Error("'" + path + "' lacks the generator state 'rng.cpu'");
    s.generator.set_state(rng->second);
    // Recreate the optimizer over the moved parameters, then give it its moments back.
    const auto named = optimized_parameters(s);
    std::vector<torch::Tensor> params;
    for (const auto& [name, value] : named) params.push_back(value);
    s.optimizer = std::make_unique<torch::optim::AdamW>(params, opts);
    for (const auto& [name, value] : named) {
      const std::string base = "optim." + name + ".";
      const auto step = tensors.find(base + "step");
      if (step == tensors.end()) continue;
      if (step->second.numel() != 1) {
        throw Error("'" + path + "': '" + base + "step' holds " + std::to_string(step->second.numel()) +
                    " values: expected one");
      }
      auto st = std::make_unique<torch::optim::AdamWParamState>();
      st->step(step->second.item<int64_t>());
      const auto get = [&](const std::string& n) {
        const auto it = tensors.find(base + n);
        if (it == tensors.end()) throw Error("'" + path + "' lacks '" + base + n + "'");
        if (it->second.sizes() != value.sizes()) {
          throw Error("'" + path + "': '" + base + n + "' has the wrong shape");
        }
        return it->second.to(device);
      };
      st->exp_avg(get("exp_avg"));
      st->exp_avg_sq(get("exp_avg_sq"));
      if (opts.amsgrad()) st->max_exp_avg_sq(get("max_exp_avg_sq"));
      s.optimizer->state()[state_key(value)] = std::move(st);
    }
    const auto trainer = view.metadata.find(kTrainerKey);
    s.trainer_json = trainer == view.metadata.end() ? "{}" : trainer->second;
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error("'" + path + "': optimizer settings are missing or malformed (" + e.what() + ")");
  } catch (const std::out_of_range&) {
    throw Error("'" + path + "': optimizer settings are missing");
  }
}

}  // namespace ddpm
