#pragma once
// The Live mode's stream: owns one ddpm_stream (plugin/include/ddpm_plugin.h, "Live streams")
// and what the render thread last read from it. The plugin's own worker advances the stream
// (run) or the caller does, one call at a time (advance: the scripted mode, the Step button);
// the render thread reads the newest output, the in-flight slots and the counters once a frame
// in poll(). Steering (class, guidance, seed path, blend) goes straight to the plugin, which
// never waits for a network call in progress, so the UI never stalls on it.
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "generation.h"  // Frame
#include "plugin_loader.h"

namespace studio {

// Everything the stream is opened with. The first group needs a new stream when it changes
// (the pipeline's schedule and its entries depend on it); the second is steered live.
struct LiveRequest {
  std::string sampler = "dpmpp2m_sde";
  int steps = 8;
  float eta = 0.0f;
  bool image_input = false;
  float strength = 0.5f;
  bool clip_x0 = true, tiling = false;

  int class_index = -1;
  float guidance = 3.0f;
  int seed_path = DDPM_SEED_WALK;
  uint64_t seed = 0;
  int seed_period = 32;
  float blend = 0.0f;

  // Whether a stream opened with `other` must be reopened to become this one.
  bool needs_restart(const LiveRequest& other) const;
};

// What one poll() found new.
struct LivePoll {
  bool frame = false;  // a newer output frame
  bool slots = false;  // the in-flight images after a newer call
};

class LiveController {
 public:
  explicit LiveController(const ddpm_host::Plugin& plugin) : plugin_(plugin) {}
  ~LiveController() { close(); }
  LiveController(const LiveController&) = delete;
  LiveController& operator=(const LiveController&) = delete;

  // Opens a stream (closing any open one). `channels` etc. come from the model. On failure
  // returns false with the plugin's message in `error` (also kept in error()).
  bool open(ddpm_model* model, const LiveRequest& request, int width, int height, int channels,
            std::string& error);
  void close();  // pauses the worker, then frees the stream; nothing when none is open
  bool is_open() const { return stream_ != nullptr; }

  // The worker: run starts it or changes its rate (0: as fast as it can); pause stops it after
  // its current call and returns the worker's own failure, if it had one.
  bool run(float target_fps, std::string& error);
  bool pause(std::string& error);
  bool running() const { return running_; }
  // One call on the calling thread (the worker must be paused).
  bool advance(bool& frame_ready, std::string& error);

  // Steering. Each takes effect without reopening the stream; `request()` follows.
  bool set_class(int class_index, bool apply_to_inflight, std::string& error);
  bool set_guidance(float guidance, bool apply_to_inflight, std::string& error);
  bool set_seed_path(int seed_path, uint64_t seed, int period, std::string& error);
  bool set_blend(float blend, std::string& error);
  bool push_input(const std::vector<uint8_t>& rgba8, int width, int height, std::string& error);

  // Render thread, once a frame: counters; the newest output when its number changed; the
  // slots when a call happened since the last read and `want_slots`. Notices a worker that
  // stopped on an error (error() says why, running() turns false).
  LivePoll poll(bool want_slots);

  const LiveRequest& request() const { return request_; }  // now, steering included
  const LiveRequest& opened() const { return opened_; }    // as the stream was opened
  const Frame& frame() const { return frame_; }  // batch 1; empty before the first
  const ddpm_stream_frame& frame_info() const { return info_; }
  const Frame& slots() const { return slots_; }  // batch = images in flight, most advanced first
  const ddpm_stream_stats& stats() const { return stats_; }
  double output_fps() const { return output_fps_; }  // finished frames per second, last ~1 s
  const std::string& error() const { return error_; }

 private:
  bool check(ddpm_status status, const char* what, std::string& error);

  const ddpm_host::Plugin& plugin_;
  ddpm_stream* stream_ = nullptr;
  LiveRequest request_, opened_;
  int width_ = 0, height_ = 0, channels_ = 0;
  bool running_ = false;

  Frame frame_, slots_;
  ddpm_stream_frame info_{};
  ddpm_stream_stats stats_{};
  int64_t slots_call_ = -1;  // stats_.calls when the slots were read
  // (time, frames finished) samples over the last second, for the output rate.
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> rate_;
  double output_fps_ = 0;
  std::string error_;
};

}  // namespace studio
