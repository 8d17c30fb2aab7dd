// The Live mode's scripted run (tests, documentation): open the stream, advance it until
// --live-frames frames are finished (optionally changing the class after --live-class-after
// calls), render, then describe the screenshot in its JSON so a test can replay the same calls
// through the plugin and compare.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "studio.h"

namespace studio {

namespace {
const char* const kSeedPathNames[] = {"fixed", "walk", "new"};
}

void Studio::live_scripted_step() {
  const auto finish = [this](const std::string& status) {
    live_status_ = status;
    if (status != "done") {
      std::fprintf(stderr, "ddpm-studio: the live stream did not finish: %s\n", status.c_str());
      exit_code_ = 1;
    }
  };
  if (screenshot_pending_ || close_requested_) return;
  if (!live_status_.empty()) {
    // The screenshot is taken after this frame renders, then the studio exits; not before the
    // third frame, which ImGui needs to lay out the tab bar with the Live tab selected.
    screenshot_pending_ = frame_count_ >= std::max(options_.frames, 3);
    return;
  }
  if (!scripted_started_) {
    scripted_started_ = true;
    // Deterministic by default: this thread advances one call a frame. The worker when asked
    // (and for closing the window while it runs).
    if (options_.live_run || options_.close_during_job) start_live();
    else open_live();
    if (!live_.is_open()) finish(live_error_.empty() ? "the stream did not open" : live_error_);
    return;
  }
  if (!live_error_.empty()) return finish(live_error_);
  if (!live_.is_open()) return finish("the stream was closed");

  const ddpm_stream_stats& st = live_.stats();
  if (options_.close_during_job) {
    if (live_.running() && live_.frame_info().number >= 1) {
      std::fprintf(stderr, "ddpm-studio: closing while the stream runs (frame %lld)\n",
                   static_cast<long long>(live_.frame_info().number));
      close_requested_ = true;
    }
    return;
  }
  if (options_.live_class_after >= 0 && !live_class_switched_ && st.calls >= options_.live_class_after) {
    std::string why, error;
    const int c = model_.class_from_string(options_.live_class, why);
    if (c == -2) return finish("--live-class: " + why);
    live_class_switched_ = true;
    live_req_.class_index = c;
    if (!live_.set_class(c, live_inflight_, error)) return finish(error);
    std::fprintf(stderr, "ddpm-studio: class %d from call %lld on\n", c, static_cast<long long>(st.calls + 1));
  }
  if (live_.frame_info().number >= options_.live_frames && frame_count_ >= options_.frames) {
    pause_live();
    return finish(live_error_.empty() ? "done" : live_error_);
  }
  if (!live_.running()) {
    bool ready = false;
    std::string error;
    if (!live_.advance(ready, error)) finish(error);
  }
}

void Studio::live_side(nlohmann::json& side) const {
  const ddpm_stream_frame& fi = live_.frame_info();
  const ddpm_stream_stats& st = live_.stats();
  const LiveRequest& r = live_.opened();
  const auto class_name = [this](int c) {
    return c >= 0 && c < static_cast<int>(model_.class_names.size()) ? model_.class_names[c] : std::string("none");
  };
  const auto grid = [](const GridLayout& l) {
    return nlohmann::json{{"cols", l.cols}, {"rows", l.rows}, {"cell_w", l.cell_w}, {"cell_h", l.cell_h},
                          {"gap", l.gap},   {"batch", l.batch}};
  };
  side["grid"] = grid(live_layout_);
  side["slots"] = {{"x", live_slots_rect_[0]}, {"y", live_slots_rect_[1]}, {"w", live_slots_rect_[2]},
                   {"h", live_slots_rect_[3]}, {"grid", grid(live_slots_layout_)}};
  side["frame"] = {{"number", fi.number},
                   {"call", fi.call},
                   {"entered_call", fi.entered_call},
                   {"latency_calls", fi.latency_calls},
                   {"class_index", fi.class_index},
                   {"class", class_name(fi.class_index)},
                   {"guidance", fi.guidance},
                   {"seed", fi.seed}};
  side["stats"] = {{"calls", st.calls},
                   {"frames", st.frames},
                   {"in_flight", st.in_flight},
                   {"latency", st.latency},
                   {"calls_per_second", st.calls_per_second},
                   {"last_call_ms", st.last_call_ms},
                   {"output_fps", live_.output_fps()}};
  side["fps"] = live_.output_fps();
  side["frames"] = st.frames;
  side["latency"] = fi.latency_calls;
  // What a replay needs: the stream as opened, and the scripted class change.
  side["request"] = {{"sampler", r.sampler},
                     {"steps", r.steps},
                     {"eta", r.eta},
                     {"class_index", r.class_index},
                     {"guidance", r.guidance},
                     {"seed_path", kSeedPathNames[r.seed_path]},
                     {"seed_path_index", r.seed_path},
                     {"seed", r.seed},
                     {"seed_period", r.seed_period},
                     {"blend", r.blend},
                     {"image_input", r.image_input},
                     {"init", r.image_input ? options_.init_image : std::string()},
                     {"strength", r.strength},
                     {"clip_x0", r.clip_x0},
                     {"tiling", r.tiling},
                     {"apply_to_inflight", live_inflight_},
                     {"mode", options_.live_run ? "run" : "advance"},
                     {"target_fps", live_fps_},
                     {"live_frames", options_.live_frames},
                     {"class_after", options_.live_class_after},
                     {"class_after_index", live_class_switched_ ? live_req_.class_index : -1}};
  side["status"] = live_status_;
}

}  // namespace studio
