#pragma once
// Helper threads for work split along a batch: each runs with ONE intra-op thread, so a split
// synchronises the cores once per call instead of at every layer (an OpenMP team's per-layer
// barriers are what the small default model's layers spend much of their time in;
// tests/bench/NOTES.md). Inference forwards (split_forward.h) and training steps
// (split_backward.h) share them.
#include <functional>

#include "ddpm/runtime.h"

namespace ddpm {

// Runs body(0..parts-1) on the calling thread and at most `threads` - 1 helper threads (started
// on first use, shared by every caller, joined when the library is unloaded); returns the CPU
// seconds the parts took. A caller never waits for a part nobody has started: it takes parts
// itself until none is left, so concurrent callers cannot starve each other. The first
// exception of a part is rethrown once all have ended. Helpers do not inherit the caller's
// thread-local state (grad mode, inference mode, autocast): a body sets what it needs.
double run_on_helpers(int parts, int threads, std::function<void(int)> body);

// Sets the calling thread's intra-op threads for a scope.
class ThreadsHere {
 public:
  explicit ThreadsHere(int threads) : previous_(calling_thread_threads()) {
    set_calling_thread_threads(threads);
  }
  ~ThreadsHere() { set_calling_thread_threads(previous_); }
  ThreadsHere(const ThreadsHere&) = delete;
  ThreadsHere& operator=(const ThreadsHere&) = delete;

 private:
  int previous_;
};

}  // namespace ddpm
