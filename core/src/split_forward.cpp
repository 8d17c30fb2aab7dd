#include "split_forward.h"

#include <ATen/ThreadLocalState.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "core_share.h"
#include "ddpm/precision.h"
#include "ddpm/runtime.h"
#include "helper_threads.h"

namespace ddpm {
namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// bf16 convolutions round their outputs to bfloat16, so a kernel that sums in another order
// changes an image by a few levels of 255, and Debian's oneDNN switches kernels at 16 images
// (an 8-stage stream, batch 16 on one thread, drifted from its seeds' job images by up to 18
// levels; batches 1-14 gave the same bits). Forwards of at most 8 keep an image independent of
// its batch, at no measured cost in speed.
constexpr int64_t kBf16Chunk = 8;

torch::Tensor forward_in_chunks(const BatchForward& forward, const torch::Tensor& x,
                                const torch::Tensor& t, const torch::Tensor& y, const torch::Tensor& w) {
  const int64_t batch = x.size(0);
  if (batch <= kBf16Chunk || inference_precision() != Precision::BFloat16) return forward(x, t, y, w);
  std::vector<torch::Tensor> out;
  for (int64_t start = 0; start < batch; start += kBf16Chunk) {
    const int64_t size = std::min(kBf16Chunk, batch - start);
    out.push_back(forward(x.narrow(0, start, size), t.narrow(0, start, size), y.narrow(0, start, size),
                          w.defined() ? w.narrow(0, start, size) : w));
  }
  return torch::cat(out);
}

}  // namespace

torch::Tensor split_forward(const BatchForward& forward, const torch::Tensor& x,
                            const torch::Tensor& t, const torch::Tensor& y, const torch::Tensor& w, bool small) {
  const int64_t batch = x.size(0);
  const int threads = calling_thread_budget();
  const int parts = static_cast<int>(std::min<int64_t>(batch, threads));
  const bool inference_on_cpu = !torch::GradMode::is_enabled() && x.device().is_cpu();
  if (parts < 2 || !inference_on_cpu) {
    if (!inference_on_cpu) return forward(x, t, y, w);
    // One part: the forward runs here, on one thread for a small network and on the whole
    // budget otherwise (a worker's own team may be smaller than its budget).
    ThreadsHere here(small ? 1 : threads);
    return forward_in_chunks(forward, x, t, y, w);
  }

  // An automatic budget runs the parts on the threads the cores can give now (core_share.h).
  // On one, the whole batch is one forward: an image does not depend on its batch (the
  // convolutions always take oneDNN, bf16 runs in chunks), and one forward of two images on
  // a thread is faster than two of one.
  const bool automatic = calling_thread_budget_automatic();
  const double began = steady_seconds();
  const int on = automatic ? core_share().threads(parts, threads, began) : parts;
  ThreadsHere one(1);
  if (on == 1) return forward_in_chunks(forward, x, t, y, w);

  std::vector<torch::Tensor> out(parts);
  const int64_t base = batch / parts, extra = batch % parts;
  const at::ThreadLocalState state;  // inference mode and the like, for the helper threads
  double cpu = 0;
  try {
    cpu = run_on_helpers(parts, on, [&](int i) {
      at::ThreadLocalStateGuard guard(state);
      const int64_t start = i * base + std::min<int64_t>(i, extra);
      const int64_t size = base + (i < extra ? 1 : 0);
      out[i] = forward_in_chunks(forward, x.narrow(0, start, size), t.narrow(0, start, size),
                                 y.narrow(0, start, size), w.defined() ? w.narrow(0, start, size) : w);
    });
  } catch (...) {
    if (automatic) core_share().report(on, 0, 0, steady_seconds());  // a failed probe must end
    throw;
  }
  if (automatic) {
    const double end = steady_seconds();
    core_share().report(on, end - began, cpu, end);
  }
  return torch::cat(out);
}

}  // namespace ddpm
