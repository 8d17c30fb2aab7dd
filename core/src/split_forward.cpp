#include "split_forward.h"

#include <ATen/ThreadLocalState.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <time.h>

#include "core_share.h"
#include "ddpm/precision.h"
#include "ddpm/runtime.h"

namespace ddpm {
namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One split call: `parts` pieces of work, taken by the caller and at most `seats` helpers.
struct Call {
  int parts = 0;
  std::function<void(int)> body;
  std::atomic<int> next{0};
  int seats = 0;             // helpers that may still join; guarded by Helpers::mutex_
  int done = 0;              // guarded by Helpers::mutex_
  double cpu = 0;            // CPU seconds of the finished parts; guarded by Helpers::mutex_
  std::exception_ptr error;  // guarded by Helpers::mutex_
};

// Helper threads shared by every caller, each with one intra-op thread, started as needed and
// joined when the library is unloaded. A caller never waits for a part nobody has started:
// it takes parts itself until none is left, so concurrent jobs cannot starve each other.
class Helpers {
 public:
  static Helpers& instance() {
    static Helpers helpers;
    return helpers;
  }

  ~Helpers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // Runs body(0..parts-1) on the calling thread and up to threads - 1 helpers; returns the CPU
  // seconds the parts took.
  double run(int parts, int threads, std::function<void(int)> body) {
    auto call = std::make_shared<Call>();
    call->parts = parts;
    call->body = std::move(body);
    call->seats = std::min(threads, parts) - 1;
    if (call->seats > 0) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        while (static_cast<int>(threads_.size()) < call->seats) threads_.emplace_back([this] { loop(); });
        queue_.push_back(call);
      }
      work_cv_.notify_all();
    }
    work(*call);
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [&] { return call->done == call->parts; });
    if (call->error) std::rethrow_exception(call->error);
    return call->cpu;
  }

 private:
  void work(Call& call) {
    for (int i; (i = call.next.fetch_add(1)) < call.parts;) {
      std::exception_ptr error;
      const double cpu = thread_cpu_seconds();
      try {
        call.body(i);
      } catch (...) {
        error = std::current_exception();
      }
      const double used = thread_cpu_seconds() - cpu;
      std::lock_guard<std::mutex> lock(mutex_);
      call.cpu += used;
      if (error && !call.error) call.error = error;
      if (++call.done == call.parts) done_cv_.notify_all();
    }
  }

  // Under the lock: the oldest call with parts left, whose seat the helper takes (calls that
  // are exhausted or have no seat left are dropped).
  std::shared_ptr<Call> next_call() {
    while (!queue_.empty() && queue_.front()->next.load() >= queue_.front()->parts) queue_.pop_front();
    if (queue_.empty()) return nullptr;
    std::shared_ptr<Call> call = queue_.front();
    if (--call->seats == 0) queue_.pop_front();
    return call;
  }

  void loop() {
    set_calling_thread_threads(1);
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      std::shared_ptr<Call> call;
      work_cv_.wait(lock, [&] { return stop_ || (call = next_call()) != nullptr; });
      if (stop_) return;
      lock.unlock();
      work(*call);
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<std::shared_ptr<Call>> queue_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

// Sets the calling thread's intra-op threads for a scope.
class ThreadsHere {
 public:
  explicit ThreadsHere(int threads) : previous_(calling_thread_threads()) {
    set_calling_thread_threads(threads);
  }
  ~ThreadsHere() { set_calling_thread_threads(previous_); }

 private:
  int previous_;
};

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
    cpu = Helpers::instance().run(parts, on, [&](int i) {
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
