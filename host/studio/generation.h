#pragma once
// One generation job at a time, driven from the render thread. The plugin's worker thread
// hands each preview frame over in its step callback (a copy under a mutex: a 32x32 batch is a
// few kilobytes); the render thread takes the newest in poll() and uploads it the same frame.
// Every frame is also recorded, so the timeline can scrub back through the last run.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "plugin_loader.h"

namespace studio {

struct Frame {
  int step = 0, total = 0;
  int width = 0, height = 0, channels = 0, batch = 0;
  std::vector<float> data;  // BHWC in [0, 1] (a latent can go beyond)
};

struct GenerateRequest {
  std::vector<int32_t> classes;  // one per image, -1 = none
  float guidance = 3.0f;
  bool guidance_interval = true;  // false: guidance at every step (both plugin bounds 0)
  std::string sampler = "dpmpp2m";
  int steps = 20;
  float eta = 0.0f;
  uint64_t seed = 0;
  int batch = 1;
  int preview_every = 1;
  bool preview_x0 = false;
  bool tiling = false;
  bool clip_x0 = true;
  uint64_t variation_seed = 0;
  float variation_strength = 0.0f;
  // Image-to-image: RGBA8 at init_w x init_h, strength; and the inpainting mask (same size).
  std::vector<uint8_t> init_rgba, mask;
  int init_w = 0, init_h = 0;
  float strength = 0.75f;
};

class GenerationController {
 public:
  explicit GenerationController(const ddpm_host::Plugin& plugin) : plugin_(plugin) {}
  ~GenerationController();
  GenerationController(const GenerationController&) = delete;
  GenerationController& operator=(const GenerationController&) = delete;

  // Starts a job (cancelling any running one). False and `error` set when the plugin refuses.
  bool start(ddpm_model* model, const GenerateRequest& request, std::string& error);
  void cancel();
  // Render thread, once per frame: takes the newest frame (true when there is one) and
  // notices the end of the job.
  bool poll();

  bool running() const { return job_ != nullptr; }
  const Frame& latest() const { return latest_; }
  const std::vector<Frame>& history() const { return history_; }
  const std::string& status() const { return status_; }  // "done", "cancelled", or the error
  double steps_per_second() const { return steps_per_second_; }
  int step() const { return step_; }
  int total() const { return total_; }
  const GenerateRequest& request() const { return request_; }
  bool finished_ok() const { return finished_ok_; }  // the last job ran to its end

 private:
  static void on_step(ddpm_job* job, int step, int total, const float* frame, int w, int h, int c,
                      int b, void* user);
  void finish();

  const ddpm_host::Plugin& plugin_;
  ddpm_job* job_ = nullptr;
  GenerateRequest request_;

  std::mutex mutex_;  // guards arrived_, worker_step_, worker_total_
  std::vector<Frame> arrived_;  // frames since the last poll, oldest first
  int worker_step_ = 0, worker_total_ = 0;

  Frame latest_;
  std::vector<Frame> history_;
  size_t history_bytes_ = 0;
  int stride_ = 1, since_recorded_ = 0;  // record every stride_-th frame; doubles at the cap
  int step_ = 0, total_ = 0;
  std::chrono::steady_clock::time_point started_;
  double steps_per_second_ = 0;
  std::string status_;
  bool finished_ok_ = false;
};

}  // namespace studio
