#pragma once
// One training job at a time: the plugin's worker reports each step through the callback;
// the render thread reads a snapshot (loss history, speed, ETA, messages, the newest sample
// grid) in poll().
#include <mutex>
#include <string>
#include <vector>

#include "plugin_loader.h"

namespace studio {

struct TrainRequest {
  std::string assets, out_model, init_model, preset = "sprite32", checkpoint, sample_dir;
  int64_t steps = 2000;
  double minutes = 0;  // > 0: a time budget; the plugin picks the steps
  int batch = 32;
  double lr = 0;  // 0: the plugin's recipe (3e-4 for a new model, 5e-4 for a fine-tune)
  int64_t sample_every = 250;
  bool flip = true, pixel_art = false, freeze = false;
  int random_crop = -1;  // -1: the plugin's choice (off for fine-tunes), 0 off, 1 on
  int bf16 = -1;         // -1: the plugin's choice (on where the CPU has it), 0 float32, 1 bf16
  int lora_rank = 0;  // fine-tunes: > 0 low-rank adapters, 0 every weight, -1 the plugin's choice
  double strength = -1;  // fine-tunes: the model is init + strength * (tuned - init); -1 the plugin's choice
  int processes = 1;  // > 1: a local multi-process run (the plugin starts ranks 1..)
  bool distill = false;  // a guidance-distilled student of init_model (the Live tab's model)
};

struct TrainSnapshot {
  int64_t step = 0, total = 0;
  double loss = 0, images_per_second = 0, eta_seconds = 0;
  std::vector<float> loss_history;  // smoothed loss per step, for the plot
  std::vector<std::string> messages;
  std::string sample_grid;  // newest sample grid file, "" before the first
  bool running = false;
  std::string status;  // "", "done", "stopped", or the error
};

class TrainingController {
 public:
  explicit TrainingController(const ddpm_host::Plugin& plugin) : plugin_(plugin) {}
  ~TrainingController();
  TrainingController(const TrainingController&) = delete;
  TrainingController& operator=(const TrainingController&) = delete;

  bool start(const TrainRequest& request, std::string& error);
  void stop();  // the job still writes its checkpoint and model, then ends
  // Render thread, once per frame; returns the current snapshot.
  const TrainSnapshot& poll();
  const TrainRequest& request() const { return request_; }

 private:
  static void on_progress(ddpm_train_job* job, int64_t step, int64_t total, double loss, double ips,
                          double eta, const char* message, void* user);

  const ddpm_host::Plugin& plugin_;
  ddpm_train_job* job_ = nullptr;
  TrainRequest request_;
  std::mutex mutex_;      // guards shared_
  TrainSnapshot shared_;  // written by the worker
  TrainSnapshot view_;    // the render thread's copy
};

}  // namespace studio
