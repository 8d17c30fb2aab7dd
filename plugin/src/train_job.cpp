// Training jobs: ddpm_train_params to ddpm::TrainOptions, one worker thread per job.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include <signal.h>
#include <unistd.h>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/runtime.h"
#include "ddpm/trainer.h"
#include "internal.h"
#include "local_workers.h"
#include "train_args.h"

struct ddpm_train_job : ddpm_plugin::WorkerJob {
  ddpm::TrainOptions options;
  std::unique_ptr<ddpm_plugin::LocalWorkers> workers;  // ranks 1.. of a local run, else null
  int threads_after = 0;  // a local run's rank 0 gives LibTorch's thread count back at the end
  ddpm_train_callback callback = nullptr;
  void* user_data = nullptr;

  ddpm_train_status progress{};  // guarded by `mutex`
};

namespace ddpm_plugin {
namespace {

// The first published ddpm_train_params ends after out_model; larger structs (newer headers)
// are accepted up to kMaxParamsStructSize.
constexpr size_t kMinTrainParamsSize = offsetof(ddpm_train_params, sample_dir);

// The library's defaults, struct_size = the library's sizeof.
void fill_train_defaults(ddpm_train_params& p) {
  std::memset(&p, 0, sizeof p);
  const ddpm::TrainOptions d;
  p.struct_size = sizeof p;
  p.preset = "sprite32";
  p.image_size = 0;
  p.steps = d.steps;
  p.batch = d.batch;
  p.lr = d.lr;
  p.seed = d.seed;
  p.sample_every = 0;
  p.warmup = d.warmup;
  p.decay_from = d.decay_from;
  p.grad_clip = d.grad_clip;
  p.label_drop = d.label_drop;
  p.ema_decay = d.ema_decay;
  p.ema_start = d.ema_start;
  p.checkpoint_every = d.checkpoint_every;
  p.flip = d.flip;
  p.pixel_art = d.pixel_art;
  p.freeze = d.freeze;
  p.world_size = d.distributed.world_size;
  p.rank = d.distributed.rank;
  p.master_addr = nullptr;
  p.master_port = d.distributed.master_port;
  p.dist_timeout = d.distributed.timeout_seconds;
  p.local_processes = 0;
  p.worker_path = nullptr;
  p.snr_gamma = d.snr_gamma;
  p.ema_warmup = d.ema_warmup;
  p.minutes = d.minutes;
  p.device = nullptr;  // "auto"
  p.distill = d.distill;
  p.distill_steps = d.distill_steps;
  p.distill_substeps = d.distill_substeps;
  p.distill_guidance_min = d.distill_guidance_min;
  p.distill_guidance_max = d.distill_guidance_max;
  p.distill_stochastic = d.distill_stochastic;
  p.lora_rank = d.lora_rank;
  p.random_crop = d.random_crop;
  p.bf16 = d.bf16;
  p.live_student = d.live_student ? 1 : 0;
  p.strength = d.strength;
}

constexpr int kMaxLocalProcesses = 64;

// The worker executable of a local run, or "" (with the error set) when it is missing.
std::string resolve_worker(const ddpm_train_params& p) {
  const std::string path = p.worker_path && *p.worker_path ? p.worker_path : default_worker_path();
  if (!path.empty() && access(path.c_str(), X_OK) == 0) return path;
  fail(DDPM_ERR_NOT_FOUND, "training worker '" + (path.empty() ? std::string("ddpm_train_worker") : path) + "' " +
                               (path.empty() ? "cannot be located" : "is not an executable file") + " (local_processes " +
                               std::to_string(p.local_processes) + " needs it; set worker_path or install it beside the library)");
  return "";
}

// Ranks 1..n-1 of a local run on 127.0.0.1:port, each started with `p` as its rank.
void start_local_workers(ddpm_train_job& job, const ddpm_train_params& p, const std::string& path, int port,
                         int threads) {
  const int n = p.local_processes;
  std::vector<std::vector<std::string>> argv;
  for (int r = 1; r < n; ++r) {
    ddpm_train_params q = p;
    q.world_size = n;
    q.rank = r;
    q.master_addr = "127.0.0.1";
    q.master_port = port;
    argv.push_back(train_params_to_args(q));
    argv.back().push_back("--threads=" + std::to_string(threads));
  }
  job.workers = std::make_unique<LocalWorkers>();
  job.workers->start(path, argv);
}

// After rank 0's run: the workers' end, folded into the job's status and message.
void finish_local_workers(ddpm_train_job& job, ddpm_status& status, std::string& message) {
  if (!job.workers) return;
  const bool ok = status == DDPM_OK || status == DDPM_ERR_CANCELLED;
  if (!ok) job.workers->signal_all(SIGTERM);  // rank 0 failed: the others would wait for it
  const std::string failure =
      job.workers->reap(1000 * (job.options.distributed.timeout_seconds + 5));
  if (failure.empty()) return;
  if (ok) {
    status = DDPM_ERR_IO;
    message = "training finished on rank 0 but " + failure;
  } else {
    message += " (" + failure + ")";
  }
}

void run_train(ddpm_train_job* job) noexcept {
  { std::lock_guard<std::mutex> lock(job->mutex); }  // until the starter set worker_id
  ddpm_status status = DDPM_OK;
  std::string message;
  try {
    const ddpm::TrainObserver observer = [&](const ddpm::TrainProgress& p) {
      {
        std::lock_guard<std::mutex> lock(job->mutex);
        auto& s = job->progress;
        s.step = p.step;
        s.total = p.total;
        s.loss = p.loss;
        s.loss_smoothed = p.loss_smoothed;
        s.images_per_second = p.images_per_second;
        s.eta_seconds = p.eta_seconds;
      }
      if (!p.message.empty()) log(DDPM_LOG_INFO, p.message);
      if (job->callback) {
        job->callback(job, p.step, p.total, p.loss, p.images_per_second, p.eta_seconds,
                      p.message.empty() ? nullptr : p.message.c_str(), job->user_data);
      }
    };
    const ddpm::TrainResult r = ddpm::train(job->options, observer, &job->cancel);
    for (const auto& s : r.skipped) log(DDPM_LOG_WARN, "skipped " + s);
    if (r.cancelled) {
      status = DDPM_ERR_CANCELLED;
      message = "training cancelled at step " + std::to_string(r.steps_done) + " (" +
                job->options.out_model + " written)";
    }
  } catch (...) {
    status = status_from_exception(DDPM_ERR_INVALID_ARGUMENT, &message);
  }
  finish_local_workers(*job, status, message);
  // LibTorch's thread count is process-wide for threads started later (new generation jobs):
  // the share this rank took ends with the run.
  if (job->threads_after > 0) ddpm::init_runtime(job->threads_after);
  if (status != DDPM_OK && status != DDPM_ERR_CANCELLED) log(DDPM_LOG_ERROR, message);
  std::unique_lock<std::mutex> lock(job->mutex);
  job->progress.done = 1;
  job->finish(lock, status, std::move(message));
}

std::string str_or(const char* s, const char* fallback) { return s ? s : fallback; }

}  // namespace
}  // namespace ddpm_plugin

using namespace ddpm_plugin;

extern "C" {

DDPM_API ddpm_status ddpm_train_params_init(ddpm_train_params* params, size_t struct_size) {
  return init_params(params, struct_size, kMinTrainParamsSize, "ddpm_train_params_init",
                     fill_train_defaults);
}

DDPM_API ddpm_status ddpm_train_start(const ddpm_train_params* params, ddpm_train_callback callback,
                                      void* user_data, ddpm_train_job** out) {
  if (out) *out = nullptr;
  return guarded(DDPM_ERR_INVALID_ARGUMENT, [&] {
    if (!params) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_train_start: params is NULL");
    if (!out) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_train_start: out is NULL");
    ddpm_train_params p;
    const ddpm_status read = read_params(*params, kMinTrainParamsSize, "ddpm_train_params_init", fill_train_defaults, p);
    if (read != DDPM_OK) return read;

    namespace fs = std::filesystem;
    std::error_code ec;
    if (!p.assets || !*p.assets) {
      return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_train_start: assets (the asset folder) is required");
    }
    if (!fs::exists(p.assets, ec)) {
      return fail(DDPM_ERR_NOT_FOUND, std::string("asset folder '") + p.assets + "' does not exist");
    }
    if (!fs::is_directory(p.assets, ec)) {
      return fail(DDPM_ERR_INVALID_ARGUMENT, std::string("asset folder '") + p.assets + "' is not a folder");
    }
    if (!p.out_model || !*p.out_model) {
      return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_train_start: out_model (the model file to write) is required");
    }
    if (p.init_model && *p.init_model && !fs::exists(p.init_model, ec)) {
      return fail(DDPM_ERR_NOT_FOUND, std::string("init model '") + p.init_model + "' does not exist");
    }
    if (p.rank <= 0) {  // the writer: a bad output path is refused now, not after the run
      try {
        ddpm::io::check_output_path(p.out_model, "model file");
        if (p.checkpoint && *p.checkpoint) ddpm::io::check_output_path(p.checkpoint, "training checkpoint");
      } catch (const ddpm::Error& e) {
        return fail(DDPM_ERR_IO, e.what());
      }
    }

    auto job = std::make_unique<ddpm_train_job>();
    ddpm::TrainOptions& o = job->options;
    o.assets = p.assets;
    o.preset = p.preset && *p.preset ? p.preset : "sprite32";
    o.image_size = p.image_size;
    o.init_model = str_or(p.init_model, "");
    o.steps = p.steps;
    o.batch = p.batch;
    o.lr = p.lr;
    o.seed = p.seed;
    o.checkpoint = str_or(p.checkpoint, "");
    o.out_model = p.out_model;
    if (params->struct_size > kMinTrainParamsSize) {
      o.sample_dir = str_or(p.sample_dir, "");
      o.sample_every = o.sample_dir.empty() ? 0 : p.sample_every;
      if (p.sample_every < 0) {
        return fail(DDPM_ERR_OUT_OF_RANGE, "sample_every " + std::to_string(p.sample_every) +
                                               " is out of range: must not be negative");
      }
    }
    // Fields past the caller's struct_size hold the defaults (copied over above).
    o.warmup = p.warmup;
    o.decay_from = p.decay_from;
    o.grad_clip = p.grad_clip;
    o.label_drop = p.label_drop;
    o.ema_decay = p.ema_decay;
    o.ema_start = p.ema_start;
    o.checkpoint_every = p.checkpoint_every;
    o.flip = p.flip != 0;
    o.pixel_art = p.pixel_art != 0;
    o.freeze = p.freeze != 0;
    o.snr_gamma = p.snr_gamma;
    o.ema_warmup = p.ema_warmup != 0;
    o.minutes = p.minutes;
    if (p.device) o.device = p.device;
    o.distill = p.distill != 0;
    o.distill_steps = p.distill_steps;
    o.distill_substeps = p.distill_substeps;
    o.distill_guidance_min = static_cast<float>(p.distill_guidance_min);
    o.distill_guidance_max = static_cast<float>(p.distill_guidance_max);
    o.distill_stochastic = p.distill_stochastic != 0;
    o.lora_rank = p.lora_rank;
    o.random_crop = p.random_crop;
    o.bf16 = p.bf16;
    o.live_student = p.live_student != 0;
    o.strength = p.strength;
    o.distributed.world_size = p.world_size;
    o.distributed.rank = p.rank;
    if (p.master_addr) o.distributed.master_addr = p.master_addr;
    o.distributed.master_port = p.master_port;
    o.distributed.timeout_seconds = p.dist_timeout;
    ensure_runtime();
    o.threads = at::get_num_threads();  // keep ddpm_set_threads' choice
    const bool local_run = p.local_processes > 1;
    if (p.local_processes < 0 || p.local_processes > kMaxLocalProcesses) {
      return fail(DDPM_ERR_OUT_OF_RANGE, "local_processes " + std::to_string(p.local_processes) +
                                             " is out of range: allowed 0 to " + std::to_string(kMaxLocalProcesses));
    }
    if (local_run && (p.world_size != 1 || p.rank != 0)) {
      return fail(DDPM_ERR_INVALID_ARGUMENT,
                  "local_processes " + std::to_string(p.local_processes) + " starts its own ranks: leave world_size at 1 "
                  "and rank at 0 (they are " + std::to_string(p.world_size) + " and " + std::to_string(p.rank) + ")");
    }
    if (local_run) {  // this job is rank 0; the cores are shared among the ranks
      o.distributed.world_size = p.local_processes;
      o.distributed.rank = 0;
      o.distributed.master_addr = "127.0.0.1";
      job->threads_after = o.threads;
      o.threads = std::max(1, o.threads / p.local_processes);
    }
    o.validate();  // throws ddpm::Error naming the option -> INVALID_ARGUMENT
    if (local_run) {
      const std::string worker = resolve_worker(p);
      if (worker.empty()) return DDPM_ERR_NOT_FOUND;
      o.distributed.master_port = free_local_port();
      start_local_workers(*job, p, worker, o.distributed.master_port, o.threads);
    }
    job->callback = callback;
    job->user_data = user_data;
    job->progress.total = o.steps;

    ddpm_train_job* raw = job.get();
    {
      std::lock_guard<std::mutex> lock(job->mutex);  // the worker waits for worker_id
      job->worker = std::thread(run_train, raw);
      job->worker_id = job->worker.get_id();
    }
    *out = job.release();
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_train_poll(ddpm_train_job* job, ddpm_train_status* status) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (!job) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_train_poll: job is NULL");
    if (!status) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_train_poll: status is NULL");
    std::lock_guard<std::mutex> lock(job->mutex);
    *status = job->progress;
    return DDPM_OK;
  });
}

DDPM_API ddpm_status ddpm_train_cancel(ddpm_train_job* job) {
  clear_error();
  if (!job) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_train_cancel: job is NULL");
  job->cancel.store(true);
  return DDPM_OK;
}

DDPM_API ddpm_status ddpm_train_wait(ddpm_train_job* job, int timeout_ms) {
  return guarded(DDPM_ERR_INTERNAL, [&] {
    if (!job) return fail(DDPM_ERR_INVALID_ARGUMENT, "ddpm_train_wait: job is NULL");
    std::unique_lock<std::mutex> lock(job->mutex);
    const ddpm_status waited = job->wait(lock, timeout_ms, "ddpm_train_wait");
    if (waited != DDPM_OK) return waited;
    if (job->status != DDPM_OK) return fail(job->status, job->message);
    return DDPM_OK;
  });
}

DDPM_API void ddpm_train_free(ddpm_train_job* job) {
  if (job && job->stop("ddpm_train_free")) delete job;
}

}  // extern "C"
