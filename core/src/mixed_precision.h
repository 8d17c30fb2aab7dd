#pragma once
// bf16 mixed precision for CPU training: while a scope is alive, LibTorch's CPU autocast runs
// the convolutions and matrix products of the forward (and so of its backward) in bfloat16,
// accumulating in float32; the weights, the optimizer, the norms, the softmax and the loss stay
// float32. On a CPU with AVX512-BF16 a step of the default model takes 0.6-0.65x the time of
// float32's with the same losses; a 10-minute fine-tune gets 1.5x the steps and a lower FD
// (tests/bench/NOTES.md, "bf16 mixed precision for training").
#include <ATen/autocast_mode.h>

namespace ddpm {

class CpuAutocastScope {
 public:
  explicit CpuAutocastScope(bool on) : on_(on) {
    if (!on_) return;
    previous_ = at::autocast::is_cpu_enabled();
    previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  ~CpuAutocastScope() {
    if (!on_) return;
    at::autocast::set_cpu_enabled(previous_);
    at::autocast::set_autocast_cpu_dtype(previous_dtype_);
    // The bfloat16 copies of the weights are cached for one forward; the optimizer changes them.
    if (!previous_) at::autocast::clear_cache();
  }
  CpuAutocastScope(const CpuAutocastScope&) = delete;
  CpuAutocastScope& operator=(const CpuAutocastScope&) = delete;

 private:
  bool on_;
  bool previous_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

}  // namespace ddpm
