#pragma once
// Inference forwards split along the batch over the cores: each part runs on its own thread
// with ONE intra-op thread, so a step synchronises the cores once instead of at every layer.
//
// Why (tests/bench/NOTES.md, "Realtime through the C ABI"): the default model's layers are
// small (32x32 and less, 32 to 64 channels), so a two-thread OpenMP team spends much of each
// layer at its barriers; and when an engine's own thread keeps a core busy, a team's waiting
// thread spins against it: a guided step fell from 74 to 22 per second. Split in two, the
// same step runs at 75 per second on an idle machine and 40 beside a busy thread, and its
// numbers no longer depend on how many threads a team had.
#include <torch/torch.h>

#include <functional>

namespace ddpm {

// forward(x, t, y, w) on slices of the batch (w: per-image guidance scales, or undefined).
// Parts: min(batch, calling_thread_budget(), runtime.h); one part (or autograd on, or a
// non-CPU tensor) calls `forward` directly, for a `small` network on one intra-op thread: a
// team's per-layer barriers cost more than its other cores give (a guidance-distilled student's
// batch-1 image: 31.7 images/s on one thread against 16.6 on two, tests/bench/NOTES.md). The caller runs one part itself, helper threads (started on first use, shared by all
// callers) the others; the calling thread's thread-local state (inference mode, grad mode)
// applies to every part. With bf16 inference a part runs in forwards of at most 8 images, so
// that an image does not depend on its batch (split_forward.cpp).
using BatchForward = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t,
                                                 const torch::Tensor& y, const torch::Tensor& w)>;
torch::Tensor split_forward(const BatchForward& forward, const torch::Tensor& x,
                            const torch::Tensor& t, const torch::Tensor& y,
                            const torch::Tensor& w = {}, bool small = false);

}  // namespace ddpm
