#include "ddpm/lora.h"

#include <cmath>
#include <map>

#include "ddpm/io/error.h"
#include "low_rank.h"
#include "unet_blocks.h"

namespace ddpm {
namespace {

// Every block's slots, named as the model's parameters are ("down1.maxpool_conv.1." + ...).
std::vector<std::pair<std::string, std::shared_ptr<LowRankDelta>*>> all_slots(UNet& model) {
  std::vector<std::pair<std::string, std::shared_ptr<LowRankDelta>*>> out;
  for (const auto& item : model->named_modules("", /*include_self=*/false)) {
    LowRankSlots slots;
    if (auto c = std::dynamic_pointer_cast<DoubleConvImpl>(item.value())) slots = c->low_rank_slots();
    else if (auto m = std::dynamic_pointer_cast<MultiHeadAttentionImpl>(item.value())) slots = m->low_rank_slots();
    else if (auto a = std::dynamic_pointer_cast<SelfAttentionImpl>(item.value())) slots = a->low_rank_slots();
    for (const auto& [name, slot] : slots) out.emplace_back(item.key() + "." + name, slot);
  }
  return out;
}

}  // namespace

LoraAdapter::LoraAdapter(UNet model, int rank, at::Generator& generator) : model_(std::move(model)), rank_(rank) {
  if (rank < 1 || rank > kMaxRank) {
    throw Error("LoRA rank " + std::to_string(rank) + " is invalid: allowed 1 to " + std::to_string(kMaxRank));
  }
  auto params = model_->named_parameters();
  std::map<std::string, std::shared_ptr<LowRankDelta>*> by_name;
  for (const auto& [name, slot] : all_slots(model_)) by_name[name] = slot;
  for (const auto& p : params) {  // the model's parameter order, so that files list them stably
    const auto it = by_name.find(p.key());
    if (it == by_name.end()) continue;
    const torch::Tensor& w = p.value();
    if (*it->second) throw Error("the model already has a LoRA adapter attached");
    const int64_t out = w.size(0), fan_in = w[0].numel();
    const int64_t r = std::min<int64_t>({rank, out, fan_in});
    std::vector<int64_t> down_shape = w.sizes().vec(), up_shape = {out, r};
    down_shape[0] = r;
    if (w.dim() == 4) up_shape.insert(up_shape.end(), {1, 1});
    const auto opts = torch::TensorOptions().dtype(w.scalar_type());
    const double bound = 1 / std::sqrt(static_cast<double>(fan_in));
    auto delta = std::make_shared<LowRankDelta>();
    delta->down = (torch::rand(down_shape, generator, torch::kFloat32) * 2 - 1).mul_(bound).to(w.device(), w.scalar_type());
    delta->up = torch::zeros(up_shape, opts.device(w.device()));
    delta->down.set_requires_grad(true);
    delta->up.set_requires_grad(true);
    w.set_requires_grad(false);
    *it->second = delta;
    slots_.push_back(it->second);
    index_.emplace(p.key(), deltas_.size());
    deltas_.emplace_back(p.key(), delta);
  }
}

LoraAdapter::~LoraAdapter() {
  for (auto* slot : slots_) slot->reset();
}

std::vector<std::pair<std::string, torch::Tensor>> LoraAdapter::named_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, d] : deltas_) {
    out.emplace_back(name + ".lora_down", d->down);
    out.emplace_back(name + ".lora_up", d->up);
  }
  return out;
}

torch::Tensor LoraAdapter::effective(const std::string& name, const torch::Tensor& value) const {
  const auto it = index_.find(name);
  if (it == index_.end()) return value;
  torch::NoGradGuard no_grad;
  return value + deltas_[it->second].second->weight();
}

}  // namespace ddpm
