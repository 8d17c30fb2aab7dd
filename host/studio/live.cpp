#include "live.h"

namespace studio {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

bool LiveRequest::needs_restart(const LiveRequest& o) const {
  return sampler != o.sampler || steps != o.steps || eta != o.eta || image_input != o.image_input ||
         (image_input && strength != o.strength) || clip_x0 != o.clip_x0 || tiling != o.tiling;
}

// Every failed call leaves the plugin's message in `error` and error(): the UI shows it, the
// studio never stops on it.
bool LiveController::check(ddpm_status status, const char* what, std::string& error) {
  if (status == DDPM_OK) return true;
  error = std::string(what) + ": " + plugin_.ddpm_last_error() + " (" + plugin_.ddpm_status_string(status) + ")";
  error_ = error;
  return false;
}

bool LiveController::open(ddpm_model* model, const LiveRequest& r, int width, int height, int channels,
                          std::string& error) {
  close();
  ddpm_stream_params p;
  plugin_.ddpm_stream_params_init(&p, sizeof p);
  p.sampler_name = r.sampler.c_str();
  p.steps = r.steps;
  p.eta = r.eta;
  p.class_index = r.class_index;
  p.guidance = r.guidance;
  p.seed_path = r.seed_path;
  p.seed = r.seed;
  p.seed_period = r.seed_period;
  p.image_input = r.image_input ? 1 : 0;
  p.strength = r.strength;
  p.blend = r.blend;
  p.clip_x0 = r.clip_x0 ? 1 : 0;
  p.tiling = r.tiling ? 1 : 0;
  error_.clear();
  if (!check(plugin_.ddpm_stream_open(model, &p, &stream_), "cannot open the stream", error)) {
    stream_ = nullptr;
    return false;
  }
  request_ = opened_ = r;
  width_ = width;
  height_ = height;
  channels_ = channels;
  frame_ = Frame{};
  slots_ = Frame{};
  info_ = ddpm_stream_frame{};
  stats_ = ddpm_stream_stats{};
  slots_call_ = -1;
  rate_.clear();
  output_fps_ = 0;
  return true;
}

void LiveController::close() {
  if (!stream_) return;
  plugin_.ddpm_stream_pause(stream_);  // close stops the worker too; pausing first keeps the order explicit
  plugin_.ddpm_stream_close(stream_);
  stream_ = nullptr;
  running_ = false;
}

bool LiveController::run(float target_fps, std::string& error) {
  if (!stream_) return false;
  if (!check(plugin_.ddpm_stream_run(stream_, target_fps), "cannot run the stream", error)) return false;
  running_ = true;
  error_.clear();
  return true;
}

bool LiveController::pause(std::string& error) {
  if (!stream_) return true;
  running_ = false;
  return check(plugin_.ddpm_stream_pause(stream_), "the stream stopped", error);
}

bool LiveController::advance(bool& frame_ready, std::string& error) {
  int ready = 0;
  frame_ready = false;
  if (!stream_) return false;
  if (!check(plugin_.ddpm_stream_advance(stream_, &ready), "cannot advance the stream", error)) return false;
  frame_ready = ready != 0;
  return true;
}

bool LiveController::set_class(int class_index, bool inflight, std::string& error) {
  if (stream_ && !check(plugin_.ddpm_stream_set_class(stream_, class_index, inflight ? 1 : 0),
                        "cannot change the class", error)) {
    return false;
  }
  request_.class_index = class_index;
  return true;
}

bool LiveController::set_guidance(float guidance, bool inflight, std::string& error) {
  if (stream_ && !check(plugin_.ddpm_stream_set_guidance(stream_, guidance, inflight ? 1 : 0),
                        "cannot change the guidance", error)) {
    return false;
  }
  request_.guidance = guidance;
  return true;
}

bool LiveController::set_seed_path(int seed_path, uint64_t seed, int period, std::string& error) {
  if (stream_ && !check(plugin_.ddpm_stream_set_seed_path(stream_, seed_path, seed, period),
                        "cannot change the seed path", error)) {
    return false;
  }
  request_.seed_path = seed_path;
  request_.seed = seed;
  request_.seed_period = period;
  return true;
}

bool LiveController::set_blend(float blend, std::string& error) {
  if (stream_ && !check(plugin_.ddpm_stream_set_blend(stream_, blend), "cannot change the blend", error)) {
    return false;
  }
  request_.blend = blend;
  return true;
}

bool LiveController::push_input(const std::vector<uint8_t>& rgba8, int width, int height, std::string& error) {
  if (!stream_) return false;
  return check(plugin_.ddpm_stream_push_input(stream_, nullptr, rgba8.data(), width, height),
               "cannot set the input image", error);
}

LivePoll LiveController::poll(bool want_slots) {
  LivePoll got;
  if (!stream_) return got;
  std::string error;
  stats_.struct_size = sizeof stats_;
  if (!check(plugin_.ddpm_stream_get_stats(stream_, &stats_), "cannot read the stream's counters", error)) {
    return got;
  }
  if (running_ && !stats_.running) pause(error);  // the worker stopped by itself: on an error

  // Output rate from the frame counter, so frames finished between two reads still count.
  const Clock::time_point now = Clock::now();
  rate_.emplace_back(now, stats_.frames);
  while (rate_.size() > 2 && now - rate_.front().first > std::chrono::seconds(1)) rate_.pop_front();
  const double span = std::chrono::duration<double>(now - rate_.front().first).count();
  if (span > 0.25) output_fps_ = (rate_.back().second - rate_.front().second) / span;

  if (stats_.frames > 0 && stats_.frames != info_.number) {
    // Upload only a new frame: the render loop runs far faster than the stream on a CPU.
    Frame f;
    f.width = width_;
    f.height = height_;
    f.channels = channels_;
    f.batch = 1;
    f.data.resize(static_cast<size_t>(width_) * height_ * channels_);
    ddpm_stream_frame info{};
    info.struct_size = sizeof info;
    const ddpm_status s = plugin_.ddpm_stream_read_frame(stream_, f.data.data(), f.data.size(), &info);
    if (s != DDPM_ERR_NOT_READY && check(s, "cannot read the frame", error) && info.number != info_.number) {
      f.step = f.total = request_.steps;
      frame_ = std::move(f);
      info_ = info;
      got.frame = true;
    }
  }

  if (want_slots && stats_.calls != slots_call_) {
    // At most `steps` images are in flight; ask for the count only if that guess is short.
    const size_t one = static_cast<size_t>(width_) * height_ * channels_;
    std::vector<float> buffer(one * static_cast<size_t>(request_.steps + 1));
    int count = 0;
    ddpm_status s = plugin_.ddpm_stream_read_slots(stream_, buffer.data(), buffer.size(), &count);
    if (s == DDPM_ERR_BUFFER_TOO_SMALL && plugin_.ddpm_stream_read_slots(stream_, nullptr, 0, &count) == DDPM_OK) {
      buffer.resize(one * static_cast<size_t>(count + 1));
      s = plugin_.ddpm_stream_read_slots(stream_, buffer.data(), buffer.size(), &count);
    }
    if (check(s, "cannot read the images in flight", error)) {
      buffer.resize(one * static_cast<size_t>(count));
      slots_.width = width_;
      slots_.height = height_;
      slots_.channels = channels_;
      slots_.batch = count;
      slots_.data = std::move(buffer);
      slots_call_ = stats_.calls;
      got.slots = true;
    }
  }
  return got;
}

}  // namespace studio
