#pragma once
// How many threads run a split forward's parts at once (split_forward.h) when the thread count
// is automatic: all the budget's while the cores are free, fewer while other threads (an
// engine's render or game thread, another job) keep cores busy.
//
// Why: beside a busy engine thread a guided job on two threads ran at 98-107 steps/s and on one
// at 117-123 (tests/bench/NOTES.md): a part that loses its core to the engine's time slice
// holds the whole step back, and the engine loses its core too. Whether that is happening is
// measured, not guessed: a call's efficiency is the CPU time its parts got over the threads
// times its wall time (near 1 on free cores; about 1/2 when a part waits for a core).
//
// A seed gives the same image at every level: the partition into parts never changes, a lower
// level runs more of the parts one after the other, and at one thread split_forward runs the
// whole batch as one forward (an image does not depend on its batch).
#include <mutex>

namespace ddpm {

class CoreShare {
 public:
  struct Policy {
    double low = 0.7;           // a level's mean efficiency below this: one thread fewer
    double high = 0.8;          // a probe one level up at or above this: go up
    double probe_seconds = 0.5; // below the most: try one more thread this often
    int window = 4;             // calls averaged before a level is judged
  };
  CoreShare() = default;
  explicit CoreShare(Policy policy) : policy_(policy) {}

  // The threads to run `parts` parts on now (1..parts, at most `budget`); `now` in seconds of a
  // steady clock. A call above the current level is a probe.
  int threads(int parts, int budget, double now);
  // What a call on `threads` threads gave: its wall seconds and the CPU seconds of its parts
  // (wall 0: the call failed, which ends a probe without judging it).
  void report(int threads, double wall, double cpu, double now);
  // The current level (0: nothing measured yet, every call gets its budget).
  int level() const;
  // Forgets what was measured (a new thread setting starts at its budget again).
  void reset(Policy policy);
  void reset() { reset(Policy{}); }

 private:
  Policy policy_;
  mutable std::mutex mutex_;
  int level_ = 0;          // threads granted to calls with as many parts (0: unknown, the budget)
  int max_ = 0;            // the largest budget seen
  double sum_ = 0;         // efficiencies of calls at level_ since it was set
  int count_ = 0;
  double changed_at_ = 0;  // when level_ was set or last probed
  bool probing_ = false;
};

// The process's share (split_forward's).
CoreShare& core_share();

}  // namespace ddpm
