#include "ddpm/runtime.h"

#include <ATen/Parallel.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include "core_share.h"
#include "ddpm/io/error.h"

// OpenMP's per-thread team size, from the OpenMP runtime LibTorch was built with (libgomp for
// Debian's). Weak, so that a LibTorch without OpenMP links and the call becomes a no-op.
extern "C" void omp_set_num_threads(int) __attribute__((weak));

namespace ddpm {
namespace {
std::atomic<int> g_process_threads{0};  // the last init_runtime count (0: never called)
std::atomic<bool> g_automatic{false};    // the last init_runtime asked for 0 (all cores, shared)
thread_local bool t_threads_set = false;  // set_calling_thread_threads ran on this thread
thread_local int t_budget = 0;             // set_calling_thread_budget (0: none)
thread_local bool t_budget_automatic = false;
}  // namespace

void init_runtime(int threads) {
  static std::once_flag allocator_once;
  std::call_once(allocator_once, [] {
    // Measured in the design notes: a guided 64x64 step takes ~2 s with glibc's defaults and
    // ~0.4 s when freed memory is kept, because fresh mappings page-fault on first touch.
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    // A thread other than the main one allocates from a non-main arena, a chain of heaps of at
    // most 64 MiB, and glibc unmaps a heap whose memory is all free whatever the trim threshold,
    // unless the top pad covers it. A training step on a job's worker thread frees ~100 MiB of
    // activations at its end and faulted them in again at the next: 1.45 M page faults and 10 s
    // of kernel time in 100 steps of a fine-tune (111 images/s); with the pad 0.12 M faults, 1.2 s
    // (155 images/s; tests/bench/NOTES.md, 2026-12-05, eighth).
    mallopt(M_TOP_PAD, 64 << 20);
    // Kept memory is per arena, and glibc gives each new thread (every job has its own worker)
    // an arena of its own up to 8 per core: measured, 1000 jobs left +511 MiB resident that way,
    // +3 MiB with two arenas. But threads that share an arena take turns at its lock: a training
    // step split over a job's worker and a helper thread (split_backward.h) made 870 context
    // switches a step on 2 cores with two arenas, 15 with four (and 1.14x the images a second).
    // Two arenas per core keep the reuse without the pile and give the busy threads their own.
    mallopt(M_ARENA_MAX, static_cast<int>(2 * std::max(1u, std::thread::hardware_concurrency())));
  });
  g_automatic = threads <= 0;
  core_share().reset();
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  g_process_threads = threads;
  // at::set_num_threads is avoided where OpenMP sets the team size: besides OpenMP it rebuilds
  // LibTorch's pthreadpool (unused here, NNPACK/XNNPACK are mobile paths on x86), and once it
  // has run, every new thread's first parallel op calls it again (ATen's lazy per-thread
  // set-up applies the process-wide count that way). Each rebuild started a pool thread that
  // spun for ~20 ms on the other core: every job's worker did it twice, costing a 4-step
  // image of the distilled student 11 ms of its 40 (tests/bench/NOTES.md). Threads of our own
  // read the count from g_process_threads instead (set_calling_thread_threads).
  if (!omp_set_num_threads && at::get_num_threads() != threads) at::set_num_threads(threads);
  set_calling_thread_threads(threads);
}

int runtime_threads() {
  const int process_wide = g_process_threads.load();
  return process_wide > 0 ? process_wide : at::get_num_threads();
}

int set_calling_thread_threads(int threads) {
  // The first call on a thread also runs ATen's lazy per-thread set-up, which applies the
  // process-wide count to this thread: do it before overriding it. It runs twice: the set-up's
  // "done" flag is a thread_local of an inline function, and a library that keeps its symbols
  // to itself (the plugin) holds its own copy of it, used by every at::parallel_for compiled
  // in (the fused attention). Left for later, that copy's set-up put a split forward's helper
  // back to the process-wide count at its first attention: parts then ran on one or two
  // threads depending on which thread took them, and same-seed jobs differed by ~1e-5.
  at::internal::lazy_init_num_threads();
  const int current = at::get_num_threads();
  const int process_wide = g_process_threads.load();
  const int wanted = threads > 0 ? threads : process_wide > 0 ? process_wide : current;
  if (omp_set_num_threads && wanted != current) omp_set_num_threads(wanted);
  t_threads_set = true;
  return at::get_num_threads();
}

int calling_thread_threads() {
  return t_threads_set ? at::get_num_threads() : set_calling_thread_threads(0);
}

void set_calling_thread_budget(int threads, bool automatic) {
  t_budget = std::max(0, threads);
  t_budget_automatic = automatic && t_budget > 0;
}

bool calling_thread_budget_automatic() { return t_budget_automatic; }

int calling_thread_budget() { return t_budget > 0 ? t_budget : calling_thread_threads(); }

ThreadBudgetHere::ThreadBudgetHere(int threads) : previous_(t_budget), previous_automatic_(t_budget_automatic) {
  set_calling_thread_budget(threads);
}

ThreadBudgetHere::~ThreadBudgetHere() {
  t_budget = previous_;
  t_budget_automatic = previous_automatic_;
}

int set_worker_threads(int threads) {
  // The budget first: set_calling_thread_threads resolves 0 to the process-wide count, which
  // the worker's own count of one would hide afterwards.
  set_calling_thread_budget(set_calling_thread_threads(threads), threads <= 0 && g_automatic.load());
  set_calling_thread_threads(1);
  return t_budget;
}

torch::Device select_device(const std::string& name) {
  if (name == "auto" || name.empty()) {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  }
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    std::optional<torch::Device> device;
    try {
      device = torch::Device(name);
    } catch (const c10::Error&) {
    }
    if (!device || !device->is_cuda()) {
      throw Error("device '" + name + "' is not a valid CUDA device name (e.g. 'cuda' or 'cuda:0')");
    }
    if (!torch::cuda::is_available()) {
      throw Error("device '" + name + "' requested but this LibTorch has no CUDA device; use 'cpu'");
    }
    const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    if (device->has_index() && device->index() >= count) {
      throw Error("device '" + name + "' does not exist: this machine has " + std::to_string(count) +
                  " CUDA device" + (count == 1 ? "" : "s") + " (cuda:0 to cuda:" + std::to_string(count - 1) + ")");
    }
    return *device;
  }
  throw Error("unknown device '" + name + "': allowed 'auto', 'cpu' or 'cuda[:N]'");
}

}  // namespace ddpm
