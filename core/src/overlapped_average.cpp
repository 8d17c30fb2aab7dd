#include "ddpm/overlapped_average.h"

#include <algorithm>

namespace ddpm {

OverlappedAverage::OverlappedAverage(ProcessGroup& group, std::vector<torch::Tensor> params, int64_t bucket_bytes)
    : group_(group), params_(std::move(params)) {
  bucket_of_.resize(params_.size());
  got_.resize(params_.size());
  slot_of_.resize(params_.size());
  int64_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {  // backward meets the last layers first
    const int64_t n = static_cast<int64_t>(params_[k].nbytes());
    if (buckets_.empty() || (bytes + n > bucket_bytes && !buckets_.back().params.empty())) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    bucket_of_[k] = buckets_.size() - 1;
    slot_of_[k] = b.params.size();
    b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + params_[b.params.back()].numel());
    b.params.push_back(k);
    bytes += n;
  }
  for (auto& b : buckets_) {
    const int64_t numel = b.offsets.back() + params_[b.params.back()].numel();
    b.flat = torch::zeros({numel}, params_[b.params.front()].options());
  }
  for (size_t k = 0; k < params_.size(); ++k) {
    // Runs on the backward thread once this parameter's gradient is complete (summed over its
    // uses); returning an undefined tensor leaves the gradient as it is.
    hooks_.push_back(params_[k].register_hook([this, k](torch::Tensor grad) {
      arrived(k, grad);
      return torch::Tensor();
    }));
  }
}

OverlappedAverage::~OverlappedAverage() {
  for (size_t k = 0; k < params_.size(); ++k) params_[k].remove_hook(hooks_[k]);
  for (auto& b : buckets_) {
    try {
      b.pending.wait();  // never leave Gloo writing into a freed buffer
    } catch (...) {
    }
  }
}

void OverlappedAverage::begin() {
  for (auto& b : buckets_) {
    b.flat.zero_();
    b.arrived = 0;
  }
  std::fill(got_.begin(), got_.end(), 0);
  next_ = 0;
}

void OverlappedAverage::arrived(size_t param, const torch::Tensor& grad) {
  Bucket& b = buckets_[bucket_of_[param]];
  const torch::Tensor& p = params_[param];
  b.flat.narrow(0, b.offsets[slot_of_[param]], p.numel()).view_as(p).copy_(grad);
  got_[param] = 1;
  ++b.arrived;
  start_ready();
}

void OverlappedAverage::start_ready() {
  while (next_ < buckets_.size() && buckets_[next_].arrived == buckets_[next_].params.size()) {
    Bucket& b = buckets_[next_++];
    b.pending = group_.start_sum(b.flat);
  }
}

void OverlappedAverage::finish() {
  for (auto& b : buckets_) b.arrived = b.params.size();  // missing gradients count as zero
  start_ready();
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    b.pending.wait();
    b.flat.div_(group_.size());
    for (size_t s = 0; s < b.params.size(); ++s) {
      torch::Tensor& p = params_[b.params[s]];
      // A parameter without a gradient (a layer this batch did not use) keeps none: AdamW skips
      // it then, as in a one-process run, instead of decaying it as if its gradient were 0.
      if (!got_[b.params[s]]) continue;
      const torch::Tensor mean = b.flat.narrow(0, b.offsets[s], p.numel()).view_as(p);
      if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);
      } else {
        p.mutable_grad() = mean.clone();
      }
    }
  }
}

}  // namespace ddpm
