#pragma once
// Process-wide runtime settings: intra-op threads, the allocator, and the device choice.
#include <torch/torch.h>

#include <string>

namespace ddpm {

// Sets the process-wide intra-op thread count to `threads`, or to the machine's cores when 0
// (automatic: workers then share them with other busy threads, see set_worker_threads),
// applies it to the calling thread, and tells glibc to keep freed memory: the sampler's large
// temporaries are then reused instead of freshly mapped (and page-faulted) at every step.
// Idempotent for the allocator; the thread count is applied on every call. Threads of this
// project apply the count with set_calling_thread_threads; with an OpenMP LibTorch, others
// keep LibTorch's own default (1 for Debian's).
void init_runtime(int threads = 0);
// The process-wide count of the last init_runtime (before any: the calling thread's count).
int runtime_threads();

// The intra-op threads of work started from the CALLING thread: `threads` (> 0), or the
// process-wide count (0). LibTorch's setter is process-wide, but OpenMP's team size is a
// per-thread setting, so each job's worker thread can use its own count without touching the
// others. Returns the count now in force on this thread.
int set_calling_thread_threads(int threads);
// The intra-op threads of the calling thread; a thread that never set them gets the
// process-wide count first (LibTorch would give it its own default).
int calling_thread_threads();

// The cores a worker thread (a job's, a stream's) gives its inference forwards, apart from its
// own intra-op threads: split_forward (split_forward.h) runs min(batch, budget) parts, or the
// whole forward on `budget` intra-op threads. The worker itself then runs on ONE thread: its
// work between forwards (sampler arithmetic, noise, previews) is too small for a team, and an
// idle OpenMP team thread spins after every parallel region, taking a core from the forward's
// parts (a bf16 8-stage stream: one spinning libgomp thread held 11 % of all CPU samples;
// tests/bench/NOTES.md). 0 (the default): the budget is calling_thread_threads().
// `automatic`: the forward's parts run on as many of the budget's threads as the cores can give
// now (core_share.h: fewer while other threads keep cores busy; the numbers do not change).
void set_calling_thread_budget(int threads, bool automatic = false);
int calling_thread_budget();
bool calling_thread_budget_automatic();
// Sets the calling thread's budget for a scope and restores what was set before (none
// included): the slices of a split training step run their inference forwards (a distillation
// teacher's) on their own thread only.
class ThreadBudgetHere {
 public:
  explicit ThreadBudgetHere(int threads);
  ~ThreadBudgetHere();
  ThreadBudgetHere(const ThreadBudgetHere&) = delete;
  ThreadBudgetHere& operator=(const ThreadBudgetHere&) = delete;

 private:
  int previous_;
  bool previous_automatic_;
};
// Makes the calling thread such a worker: a budget of `threads` (0: the process-wide count, and
// automatic when that is), one intra-op thread of its own. Returns the budget.
int set_worker_threads(int threads);

// "auto" (CUDA when this LibTorch has it, else CPU), "cpu" or "cuda[:N]".
// Throws ddpm::Error when CUDA is asked for and not available.
torch::Device select_device(const std::string& name = "auto");

}  // namespace ddpm
