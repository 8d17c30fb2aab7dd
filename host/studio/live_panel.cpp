// The Live panel: a stream that keeps `steps` images in flight and finishes one per network
// call once warm. Its controls come in two groups: the pipeline (sampler, steps, image input)
// reopens the stream; the steering (class, guidance, seed path, blend, rate) reaches the
// running stream at once. The Preview window then shows the output with its rate and latency,
// and a strip of the images in flight.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cmath>

#include "ddpm/io/error.h"
#include "ddpm/io/png.h"
#include "studio.h"
#include "widgets.h"

namespace studio {

namespace {
const char* const kSeedPathLabels[] = {"Fixed", "Walk", "New each frame"};

// Draws `rect` of `tex` through `renderer` at `size` (screen units); returns where it went, in
// framebuffer pixels (x, y, w, h), for the screenshot's description.
void show_texture(PreviewRenderer& renderer, const Texture& tex, GridRect rect, ImVec2 size,
                  const PreviewStyle& style, float out_rect[4]) {
  const ImVec2 fb = ImGui::GetIO().DisplayFramebufferScale;
  const GLuint id = renderer.render(tex, rect, 0, static_cast<int>(std::lround(size.x * fb.x)),
                                    static_cast<int>(std::lround(size.y * fb.y)), style);
  const ImVec2 at = ImGui::GetCursorScreenPos();
  ImGui::Image(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(id)), size);
  out_rect[0] = at.x * fb.x;
  out_rect[1] = at.y * fb.y;
  out_rect[2] = size.x * fb.x;
  out_rect[3] = size.y * fb.y;
}
}  // namespace

// ---- actions ------------------------------------------------------------------------------

void Studio::live_error(const std::string& error) {
  live_error_ = error;
  say(error, true);
}

bool Studio::set_live_input(const ddpm::io::Image& image, const std::string& source) {
  live_input_ = ddpm::io::to_rgba(image);
  if (live_input_.width != model_.width || live_input_.height != model_.height) {
    live_input_ = ddpm::io::resize(live_input_, model_.width, model_.height);
  }
  live_input_source_ = source;
  live_input_tex_.upload_rgba8(live_input_.pixels.data(), live_input_.width, live_input_.height);
  std::string error;
  if (live_.is_open() && live_.request().image_input &&
      !live_.push_input(live_input_.pixels, live_input_.width, live_input_.height, error)) {
    live_error(error);
    return false;
  }
  return true;
}

bool Studio::open_live() {
  if (!model_.loaded()) {
    live_error("no model loaded: load one in the Model section first");
    return false;
  }
  if (live_req_.image_input && live_input_.pixels.empty()) {
    live_error("image input is on but there is no input image: load a file or use the selected result");
    return false;
  }
  std::string error;
  const ModelState& m = live_model();
  if (!live_.open(m.handle(), live_req_, m.width, m.height, m.channels, error)) {
    live_error(error);
    return false;
  }
  // The plugin refuses to advance an image-input stream before its first input.
  if (live_req_.image_input && !live_.push_input(live_input_.pixels, live_input_.width, live_input_.height, error)) {
    live_error(error);
    live_.close();
    return false;
  }
  live_error_.clear();
  live_used_ = true;
  // Nothing of the previous stream stays on screen: its frame would pass for this one's.
  live_layout_ = GridLayout{};
  live_slots_layout_ = GridLayout{};
  return true;
}

void Studio::start_live() {
  if ((!live_.is_open() || live_.request().needs_restart(live_req_)) && !open_live()) return;
  std::string error;
  if (!live_.run(live_fps_, error)) return live_error(error);
  live_error_.clear();
}

void Studio::remember_live_settings() {
  settings_.live_sampler = std::max(0, sampler_index(live_req_.sampler));
  settings_.live_steps = live_req_.steps;
  settings_.live_seed_path = live_req_.seed_path;
  settings_.live_seed_period = live_req_.seed_period;
  settings_.live_blend = live_req_.blend;
  settings_.live_fps = live_fps_;
  settings_.live_inflight = live_inflight_;
}

void Studio::pause_live() {
  std::string error;
  if (live_.running() && !live_.pause(error)) live_error(error);
}

void Studio::restart_live() {
  const bool was_running = live_.running();
  pause_live();
  if (!open_live()) return;
  say("the stream restarted: sampler, steps and image input need a new pipeline");
  if (was_running) start_live();
}

void Studio::step_live() {
  if ((!live_.is_open() || live_.request().needs_restart(live_req_)) && !open_live()) return;
  bool ready = false;
  std::string error;
  if (!live_.advance(ready, error)) live_error(error);
}

void Studio::poll_live() {
  if (!live_.is_open()) return;
  const LivePoll got = live_.poll(live_tab_active_ || options_.panel == "live");
  if (got.frame) {
    const Frame& f = live_.frame();
    const FrameGrid g = make_frame_grid(f.data.data(), f.width, f.height, f.channels, 1);
    live_tex_.upload_rgba32f(g.rgba.data(), g.layout.width(), g.layout.height());
    live_layout_ = g.layout;
  }
  if (got.slots) {
    const Frame& s = live_.slots();
    live_slots_layout_ = GridLayout{};
    if (s.batch > 0) {  // one row: the pipeline from the image about to finish to the newest
      const FrameGrid g = make_frame_grid(s.data.data(), s.width, s.height, s.channels, s.batch, s.batch);
      live_slots_tex_.upload_rgba32f(g.rgba.data(), g.layout.width(), g.layout.height());
      live_slots_layout_ = g.layout;
    }
  }
  if (!live_.error().empty() && live_.error() != live_error_) live_error(live_.error());
}

// ---- the panel ----------------------------------------------------------------------------

void Studio::draw_live_panel() {
  if (!model_.loaded()) {
    ImGui::TextDisabled("load a model first");
    return;
  }
  std::string error;
  bool restart = false;

  if (student_.loaded()) {
    ImGui::TextWrapped("Model: its distilled student (%s): guidance is an input, one forward per stage",
                       std::filesystem::path(student_.path()).filename().string().c_str());
  }
  ImGui::TextDisabled("Pipeline: changing these restarts the stream");
  int sampler = std::max(0, sampler_index(live_req_.sampler));
  if (ImGui::Combo("Sampler##live", &sampler, kSamplerLabels, kSamplerCount)) {
    live_req_.sampler = kSamplerNames[sampler];
    restart = true;
  }
  const int max_steps = std::max(1, std::min(model_.timesteps > 0 ? model_.timesteps : 256, 64));
  ImGui::SliderInt("Steps##live", &live_req_.steps, 1, max_steps);
  restart |= ImGui::IsItemDeactivatedAfterEdit();
  help("Stages of the pipeline: the images in flight, and the latency in calls from entry to output. "
       "Once warm, every network call finishes one frame.");
  if (live_req_.sampler == "ddim") {
    ImGui::SliderFloat("Eta##live", &live_req_.eta, 0.0f, 1.0f, "%.2f");
    restart |= ImGui::IsItemDeactivatedAfterEdit();
  }
  restart |= ImGui::Checkbox("Clip x0##live", &live_req_.clip_x0);
  ImGui::SameLine();
  restart |= ImGui::Checkbox("Tiling##live", &live_req_.tiling);
  if (ImGui::Checkbox("bf16 convolutions (every job)", &bf16_)) {
    // Process-wide and immediate: the next network call of every job and stream uses it.
    if (plugin_.ddpm_set_precision(bf16_ ? "bf16" : "float32") == DDPM_OK) {
      precision_error_.clear();
    } else {
      precision_error_ = plugin_.ddpm_last_error();
      bf16_ = false;
    }
  }
  help("bfloat16 products on CPUs with AVX512-BF16 (on by default there): the same scores on the "
       "quality bench and 1.4-1.8x the frames per second (tests/bench/NOTES.md). Off: float32, "
       "images that match across CPUs.");
  if (!precision_error_.empty()) ImGui::TextWrapped("%s", precision_error_.c_str());
  restart |= ImGui::Checkbox("Image input (image to image)", &live_req_.image_input);
  help("Every entering image starts from the input image noised to the strength instead of from noise.");
  if (live_req_.image_input) {
    ImGui::InputText("Image file##live", &live_input_path_);
    if (ImGui::Button("Load##liveinput")) {
      try {
        const ddpm::io::Image im = ddpm::io::read_image(live_input_path_);
        if (im.width < 1 || im.height < 1) throw ddpm::Error("the image is empty");
        if (set_live_input(im, live_input_path_)) say("live input: " + live_input_path_);
      } catch (const std::exception& e) {
        live_error(std::string("cannot load the input image: ") + e.what());
      }
    }
    ImGui::SameLine();
    ImGui::BeginDisabled(shown_.data.empty());
    if (ImGui::Button("Use selected result")) {
      const int i = std::min(selected_, std::max(0, shown_.batch - 1));
      set_live_input(frame_image_rgba8(shown_.data.data(), shown_.width, shown_.height, shown_.channels, i),
                     "the selected result");
    }
    ImGui::EndDisabled();
    ImGui::SliderFloat("Strength##live", &live_req_.strength, 0.05f, 1.0f, "%.2f");
    restart |= ImGui::IsItemDeactivatedAfterEdit();
    help("The fraction of the stages each image runs: low keeps the input, 1 ignores it. "
         "The latency becomes round(strength * steps) calls.");
    if (live_input_tex_.id() && !live_input_.pixels.empty()) {
      const float side = 64.0f * options_.ui_scale;
      ImGui::Image(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(live_input_tex_.id())), ImVec2(side, side));
      ImGui::SameLine();
      ImGui::TextWrapped("input: %s", live_input_source_.c_str());
    } else {
      ImGui::TextDisabled("no input image yet");
    }
  }

  ImGui::Separator();
  ImGui::TextDisabled("Steering: takes effect while it runs");
  if (class_combo("Class##live", live_req_.class_index, model_.class_names) &&
      !live_.set_class(live_req_.class_index, live_inflight_, error)) {
    live_error(error);
  }
  if (ImGui::SliderFloat("Guidance##live", &live_req_.guidance, 0.0f, 10.0f, "%.1f") &&
      !live_.set_guidance(live_req_.guidance, live_inflight_, error)) {
    live_error(error);
  }
  ImGui::Checkbox("Apply to in-flight images", &live_inflight_);
  help("Off: a change reaches the output after the latency (the images already in flight finish as "
       "they began). On: the images in flight take it from their next stage, so the output changes "
       "at the next call.");
  bool seed_changed = false;
  for (int i = 0; i < 3; ++i) {
    if (i) ImGui::SameLine();
    seed_changed |= ImGui::RadioButton(kSeedPathLabels[i], &live_req_.seed_path, i);
  }
  help("Fixed: every image enters from the same noise (a still picture). Walk: a slow path from seed "
       "to seed, consecutive frames differ a little. New: a new picture every frame.");
  long long seed = static_cast<long long>(live_req_.seed);
  ImGui::InputScalar("Seed##live", ImGuiDataType_S64, &seed);
  live_req_.seed = static_cast<uint64_t>(std::max(0LL, seed));
  seed_changed |= ImGui::IsItemDeactivatedAfterEdit();
  if (live_req_.seed_path == DDPM_SEED_WALK) {
    ImGui::SliderInt("Period##live", &live_req_.seed_period, 1, 256, "%d frames per seed");
    seed_changed |= ImGui::IsItemDeactivatedAfterEdit();
  }
  if (seed_changed &&
      !live_.set_seed_path(live_req_.seed_path, live_req_.seed, live_req_.seed_period, error)) {
    live_error(error);
  }
  if (ImGui::SliderFloat("Blend##live", &live_req_.blend, 0.0f, 0.95f, "%.2f") &&
      !live_.set_blend(live_req_.blend, error)) {
    live_error(error);
  }
  help("Against flicker: each output is blend x the previous output + (1 - blend) x the new frame.");
  if (ImGui::SliderFloat("Target fps", &live_fps_, 0.0f, 60.0f, live_fps_ > 0 ? "%.0f" : "as fast as possible") &&
      live_.running() && !live_.run(live_fps_, error)) {
    live_error(error);
  }
  live_fps_ = std::max(0.0f, live_fps_);

  ImGui::Separator();
  if (!live_.running()) {
    if (ImGui::Button(live_.is_open() ? "Resume (Space)" : "Start (Space)")) start_live();
    ImGui::SameLine();
    if (ImGui::Button("Step")) step_live();
    help("One network call on this thread: watch the pipeline advance stage by stage.");
  } else if (ImGui::Button("Pause (Space)")) {
    pause_live();
  }
  ImGui::SameLine();
  ImGui::BeginDisabled(!live_.is_open());
  if (ImGui::Button("Close")) live_.close();
  ImGui::EndDisabled();
  ImGui::Checkbox("Show the images in flight", &live_show_slots_);
  error_text(live_error_);

  if (restart && live_.is_open()) restart_live();
}

// ---- the preview --------------------------------------------------------------------------

void Studio::draw_live_preview() {
  const ddpm_stream_stats& st = live_.stats();
  const ddpm_stream_frame& fi = live_.frame_info();
  const char* state = live_.running() ? "running" : live_.is_open() ? "paused" : "closed";
  // The output rate is measured over a window of at least a quarter second: "--" before that.
  char fps[32] = "--";
  if (live_.output_fps() > 0) std::snprintf(fps, sizeof fps, "%.1f", live_.output_fps());
  ImGui::Text("%s   output %s fps   %.1f calls/s   last call %.0f ms", state, fps, st.calls_per_second,
              st.last_call_ms);
  if (fi.number > 0) {
    const auto& names = model_.class_names;
    const std::string cls = fi.class_index >= 0 && fi.class_index < static_cast<int>(names.size())
                                ? names[fi.class_index]
                                : std::string("none");
    ImGui::Text("frame %lld (call %lld)   latency %d calls   class %s   guidance %.1f   seed %llu",
                static_cast<long long>(fi.number), static_cast<long long>(fi.call), fi.latency_calls,
                cls.c_str(), fi.guidance, static_cast<unsigned long long>(fi.seed));
  } else if (live_.is_open()) {
    ImGui::TextDisabled("warming up: the first frame leaves after %d calls (%lld so far)", st.latency,
                        static_cast<long long>(st.calls));
  } else {
    ImGui::TextDisabled(model_.loaded() ? "Press Start (Space) in the Live panel." : "Load a model to start.");
  }
  if (message_is_error_) error_text(message_);
  else ImGui::TextWrapped("%s", message_.c_str());
  ImGui::Checkbox("Linear filter", &style_.linear);
  ImGui::SameLine();
  ImGui::Checkbox("Checkerboard", &style_.checker);

  if (!live_tex_.id() || live_layout_.batch == 0) {
    preview_rect_[2] = preview_rect_[3] = live_slots_rect_[2] = live_slots_rect_[3] = 0;
    return;
  }
  // The strip of images in flight takes a row under the output: cells at most 96 points high.
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const GridLayout& sl = live_slots_layout_;
  const bool strip = live_show_slots_ && sl.batch > 0 && live_slots_tex_.id();
  float strip_scale = 0, strip_h = 0;
  if (strip) {
    strip_scale = std::min(avail.x / sl.width(), 96.0f * options_.ui_scale / sl.height());
    strip_h = sl.height() * strip_scale + 2 * ImGui::GetTextLineHeightWithSpacing();
  }
  const GridLayout& l = live_layout_;
  float scale = std::min(avail.x / l.width(), (avail.y - strip_h) / l.height());
  if (!style_.linear && scale >= 1.0f) scale = std::floor(scale);  // crisp pixels
  scale = std::max(scale, 0.05f);
  PreviewStyle st_out = style_;
  st_out.tile3x3 = false;
  show_texture(*preview_, live_tex_, {0, 0, l.width(), l.height()}, ImVec2(l.width() * scale, l.height() * scale),
               st_out, preview_rect_);
  if (!strip) {
    live_slots_rect_[2] = live_slots_rect_[3] = 0;
    return;
  }
  ImGui::Text("In flight, most advanced first (clean-image estimates): %d", sl.batch);
  show_texture(*slots_view_, live_slots_tex_, {0, 0, sl.width(), sl.height()},
               ImVec2(sl.width() * strip_scale, sl.height() * strip_scale), st_out, live_slots_rect_);
}

}  // namespace studio
