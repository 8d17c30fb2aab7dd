#include "studio.h"

#include <GLFW/glfw3.h>
#include <imgui.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/png.h"
#include "default_model.h"
#include "sprite_sheet.h"
#include "widgets.h"

namespace studio {
namespace fs = std::filesystem;

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Studio::Studio(GLFWwindow* window, const ddpm_host::Plugin& plugin, StudioOptions options,
               Settings settings)
    : window_(window), plugin_(plugin), options_(std::move(options)), settings_(std::move(settings)),
      model_(plugin, options_.device), student_(plugin, options_.device), gen_(plugin), train_(plugin), live_(plugin) {
  bf16_ = std::string(plugin_.ddpm_get_precision()) == "bf16";  // main() has set --precision
  sampler_choice_ = settings_.sampler;
  steps_ = settings_.steps;
  guidance_ = settings_.guidance;
  guidance_interval_ = settings_.guidance_interval;
  batch_ = settings_.batch;
  train_folder_input_ = settings_.last_folder;
  if (!settings_.last_export_dir.empty()) export_dir_ = settings_.last_export_dir;
  // Command-line values win over the remembered ones.
  if (sampler_index(options_.sampler) >= 0) sampler_choice_ = sampler_index(options_.sampler);
  if (options_.steps > 0) steps_ = options_.steps;
  if (options_.batch > 0) batch_ = options_.batch;
  if (options_.seed >= 0) {
    seed_ = options_.seed;
    new_seed_each_run_ = false;
  }
  preview_x0_ = options_.preview_x0;
  tiling_ = options_.tiling;
  style_.checker = !options_.flat_background;
  if (!options_.train_folder.empty()) train_folder_input_ = options_.train_folder;
  if (!options_.train_out.empty()) train_out_input_ = options_.train_out;
  if (options_.train_steps > 0) train_steps_ = static_cast<int>(options_.train_steps);
  train_minutes_ = static_cast<float>(options_.train_minutes);
  if (options_.train_finetune) train_mode_ = 1;
  if (options_.train_distill) train_mode_ = 2;  // its output is set once the model is loaded
  train_processes_ = options_.train_processes;
  if (options_.frames > 0) sample_every_ = std::max(1, train_steps_ / 2);

  // Live panel: remembered choices, then the command line's.
  live_req_.sampler = kSamplerNames[settings_.live_sampler];
  live_req_.steps = settings_.live_steps;
  live_req_.seed_path = settings_.live_seed_path;
  live_req_.seed_period = settings_.live_seed_period;
  live_req_.blend = settings_.live_blend;
  live_fps_ = settings_.live_fps;
  live_inflight_ = settings_.live_inflight;
  if (!options_.sampler.empty()) live_req_.sampler = options_.sampler;
  if (options_.steps > 0) live_req_.steps = options_.steps;
  if (options_.seed >= 0) live_req_.seed = static_cast<uint64_t>(options_.seed);
  const char* const paths[] = {"fixed", "walk", "new"};
  for (int i = 0; i < 3; ++i) {
    if (options_.live_seed_path == paths[i]) live_req_.seed_path = i;
  }
  if (options_.live_blend >= 0) live_req_.blend = options_.live_blend;
  if (options_.live_fps > 0) live_fps_ = options_.live_fps;
  if (options_.live_inflight) live_inflight_ = true;
}

Studio::~Studio() = default;

bool Studio::init(std::string& error) {
  preview_ = std::make_unique<PreviewRenderer>(find_shader_dir());
  if (!preview_->ok()) {
    error = preview_->error();
    return false;
  }
  mask_view_ = std::make_unique<PreviewRenderer>(find_shader_dir());
  slots_view_ = std::make_unique<PreviewRenderer>(find_shader_dir());
  std::string path = options_.model;
  if (path.empty()) path = settings_.last_model;
  std::error_code ec;
  if (path.empty() || (options_.model.empty() && !fs::exists(path, ec))) path = ddpm_host::default_model_path();
  load_model(path);
  if (options_.train_distill && options_.train_out.empty() && model_.loaded()) {
    train_out_input_ = student_path_for(model_.path());
  }
  if (model_.loaded() && !options_.class_arg.empty()) {
    std::string why;
    const int c = model_.class_from_string(options_.class_arg, why);
    if (c == -2) {
      error = why;
      return false;
    }
    class_choice_ = c;
  }
  if (options_.guidance >= 0) guidance_ = options_.guidance;
  strength_ = options_.strength;
  live_req_.class_index = class_choice_;
  live_req_.guidance = guidance_;
  if (!options_.init_image.empty() && model_.loaded()) {
    init_path_input_ = options_.init_image;
    std::string why;
    if (!mask_.load(options_.init_image, model_.width, model_.height, why)) {
      error = "cannot load the init image: " + why;
      return false;
    }
    use_init_ = true;
    if (options_.panel == "live") {  // an image-to-image stream from this file
      set_live_input(mask_.image(), options_.init_image);
      live_input_path_ = options_.init_image;
      live_req_.image_input = true;
      live_req_.strength = strength_;
    }
    if (options_.inpaint_center) {
      inpaint_ = true;
      mask_.paint(0.5f, 0.5f, model_.width * 0.3f, true);
    }
  }
  started_at_ = now_seconds();
  return true;
}

void Studio::say(const std::string& message, bool error) {
  message_ = message;
  message_is_error_ = error;
  if (options_.frames > 0 && !message.empty()) std::fprintf(stderr, "ddpm-studio: %s\n", message.c_str());
}

void Studio::load_model(const std::string& path) {
  model_path_input_ = path;
  std::string error;
  if (!model_.load(path, error)) {
    model_error_ = error;
    say("cannot load the model: " + error, true);
    return;
  }
  model_error_.clear();
  settings_.last_model = path;
  if (live_.is_open()) {  // the stream belongs to the old model (its classes, its size)
    live_.close();
    say("the live stream was closed: the model changed");
  }
  live_input_ = ddpm::io::Image{};
  if (class_choice_ >= model_.num_classes) class_choice_ = -1;
  if (live_req_.class_index >= model_.num_classes) live_req_.class_index = -1;
  if (options_.guidance < 0) guidance_ = live_req_.guidance = model_.default_guidance;
  mask_.clear();
  load_student(path);
  // A step-distilled model streams as it was distilled (its sampler, one stage per step)
  // unless the command line asked otherwise.
  if (const ModelState& m = live_model(); m.distilled_steps > 0) {
    if (options_.sampler.empty()) live_req_.sampler = m.distilled_sampler;
    if (options_.steps <= 0) live_req_.steps = m.distilled_steps;
  }
  say("loaded " + path + " (" + model_.summary + ")" +
      (student_.loaded() ? "; Live uses its distilled student " + student_.path() : std::string()));
}

void Studio::set_device(const std::string& device) {
  const std::string previous = model_.device();
  model_.set_device(device);
  student_.set_device(device);
  if (!model_.loaded()) return;
  load_model(model_.path());
  if (!model_error_.empty()) {  // the model stays loaded where it was: so does the choice
    model_.set_device(previous);
    student_.set_device(previous);
  }
}

void Studio::load_student(const std::string& model_path) {
  student_.unload();
  // A fine-tune's own (OUT.student.safetensors, written by training), else the folder's
  // (the default model's student.safetensors); a student (guidance as an input) has none.
  if (model_.guidance_input) return;
  const std::string path = find_student(model_path);
  if (path.empty()) return;
  std::string error;
  if (!student_.load(path, error)) {
    say("the Live panel uses the model itself: its student " + path + " does not load: " + error, true);
    return;
  }
  if (student_.width != model_.width || student_.channels != model_.channels ||
      student_.class_names != model_.class_names || !student_.guidance_input) {
    say("the Live panel uses the model itself: " + path + " is not a guidance-distilled student of it", true);
    student_.unload();
  }
}

void Studio::start_generation() {
  if (!model_.loaded()) {
    say("no model loaded: load one in the Model section first", true);
    return;
  }
  GenerateRequest r;
  if (new_seed_each_run_ && !animate_) seed_ = std::random_device{}() & 0x7fffffff;
  r.batch = batch_;
  r.classes.assign(static_cast<size_t>(batch_), class_choice_);
  r.guidance = guidance_;
  r.guidance_interval = guidance_interval_;
  r.sampler = kSamplerNames[sampler_choice_];
  r.steps = std::min(steps_, model_.timesteps);
  r.eta = eta_;
  r.seed = static_cast<uint64_t>(seed_);
  r.preview_every = preview_every_;
  r.preview_x0 = preview_x0_;
  r.tiling = tiling_;
  r.clip_x0 = clip_x0_;
  r.variation_seed = static_cast<uint64_t>(variation_seed_);
  r.variation_strength = animate_ ? animate_t_ : variation_;
  if (use_init_ && mask_.has_image()) {
    r.init_rgba = mask_.image().pixels;
    r.init_w = mask_.image().width;
    r.init_h = mask_.image().height;
    r.strength = strength_;
    if (inpaint_ && mask_.mask_used()) r.mask = mask_.mask();
  }
  std::string error;
  if (!gen_.start(model_.handle(), r, error)) {
    say("cannot generate: " + error, true);
    animate_ = false;
    return;
  }
  timeline_ = -1;
  if (selected_ >= batch_) selected_ = 0;
  settings_.sampler = sampler_choice_;
  settings_.steps = steps_;
  settings_.guidance = guidance_;
  settings_.guidance_interval = guidance_interval_;
  settings_.batch = batch_;
}

void Studio::upload_frame(const Frame& f) {
  if (f.data.empty()) return;
  const FrameGrid g = make_frame_grid(f.data.data(), f.width, f.height, f.channels, f.batch);
  frame_tex_.upload_rgba32f(g.rgba.data(), g.layout.width(), g.layout.height());
  layout_ = g.layout;
  shown_ = f;
}

void Studio::handle_shortcuts() {
  const ImGuiIO& io = ImGui::GetIO();
  if (io.WantTextInput) return;  // typing in a field is not a shortcut
  if (live_tab_active_) {  // Space starts and pauses the stream; G still generates elsewhere
    if (ImGui::IsKeyPressed(GLFW_KEY_SPACE, false)) live_.running() ? pause_live() : start_live();
    if (ImGui::IsKeyPressed(GLFW_KEY_ESCAPE, false)) pause_live();
    return;
  }
  if (ImGui::IsKeyPressed(GLFW_KEY_G, false)) start_generation();
  if (ImGui::IsKeyPressed(GLFW_KEY_ESCAPE, false)) {
    animate_ = false;
    gen_.cancel();
  }
  if (ImGui::IsKeyPressed(GLFW_KEY_S, false)) export_selected();
}

void Studio::frame() {
  ++frame_count_;
  if (gen_.poll() && timeline_ < 0) upload_frame(gen_.latest());
  if (!gen_.running() && gen_.finished_ok() && animate_) {
    // The next picture along the path of seeds: slerp from seed_ towards variation_seed_.
    animate_t_ += animate_speed_;
    if (animate_t_ >= 1.0f) {
      animate_t_ = 0.0f;
      seed_ = variation_seed_;
      variation_seed_ = std::random_device{}() & 0x7fffffff;
    }
    start_generation();
  }
  poll_live();
  if (options_.frames > 0) scripted_step();
  handle_shortcuts();

  const ImGuiIO& io = ImGui::GetIO();
  const float w = io.DisplaySize.x, h = io.DisplaySize.y;
  const float left = std::min(430.0f * options_.ui_scale, w * 0.45f);
  ImGui::SetNextWindowPos(ImVec2(0, 0));
  ImGui::SetNextWindowSize(ImVec2(left, h));
  ImGui::Begin("Controls", nullptr,
               ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse);
  draw_model_section();
  if (ImGui::BeginTabBar("panels")) {
    const bool train_first = options_.panel == "train" && frame_count_ < 3;
    const bool live_first = options_.panel == "live" && frame_count_ < 3;
    if (ImGui::BeginTabItem("Generate")) {
      draw_generate_panel();
      ImGui::EndTabItem();
    }
    train_tab_active_ = false;
    if (ImGui::BeginTabItem("Train", nullptr, train_first ? ImGuiTabItemFlags_SetSelected : 0)) {
      train_tab_active_ = true;
      draw_train_panel();
      ImGui::EndTabItem();
    }
    live_tab_active_ = false;
    if (ImGui::BeginTabItem("Live", nullptr, live_first ? ImGuiTabItemFlags_SetSelected : 0)) {
      live_tab_active_ = true;
      draw_live_panel();
      ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
  }
  ImGui::End();

  ImGui::SetNextWindowPos(ImVec2(left, 0));
  ImGui::SetNextWindowSize(ImVec2(w - left, h));
  ImGui::Begin("Preview", nullptr,
               ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse);
  if (live_tab_active_) draw_live_preview();
  else draw_preview_window();
  ImGui::End();
}

std::string Studio::export_path(const std::string& stem) const {
  return (fs::path(export_dir_) / (stem + ".png")).string();
}

void Studio::export_selected() {
  if (shown_.data.empty()) return say("nothing to save yet: generate first", true);
  const int i = std::min(selected_, shown_.batch - 1);
  const auto& classes = gen_.request().classes;
  const int c = i < static_cast<int>(classes.size()) ? classes[i] : -1;
  const std::string cls = c >= 0 && c < static_cast<int>(model_.class_names.size()) ? model_.class_names[c] : "none";
  const std::string path =
      export_path("ddpm_" + cls + "_seed" + std::to_string(gen_.request().seed + i));
  try {
    fs::create_directories(export_dir_);
    ddpm::io::write_png(path, frame_image_rgba8(shown_.data.data(), shown_.width, shown_.height,
                                                shown_.channels, i));
    settings_.last_export_dir = export_dir_;
    say("saved " + path);
  } catch (const std::exception& e) {
    say(std::string("cannot save: ") + e.what(), true);
  }
}

std::vector<ddpm::io::Image> Studio::shown_images() const {
  std::vector<ddpm::io::Image> images;
  for (int i = 0; i < shown_.batch; ++i) {
    images.push_back(frame_image_rgba8(shown_.data.data(), shown_.width, shown_.height, shown_.channels, i));
  }
  return images;
}

void Studio::export_grid() {
  if (shown_.data.empty()) return say("nothing to save yet: generate first", true);
  const std::vector<ddpm::io::Image> images = shown_images();
  const std::string path = export_path("ddpm_grid_seed" + std::to_string(gen_.request().seed));
  try {
    fs::create_directories(export_dir_);
    ddpm::io::write_png(path, ddpm::io::make_grid(images, ddpm_host::grid_columns(shown_.batch), 2));
    say("saved " + path);
  } catch (const std::exception& e) {
    say(std::string("cannot save: ") + e.what(), true);
  }
}

void Studio::export_sheet() {
  if (shown_.data.empty()) return say("nothing to save yet: generate first", true);
  const GenerateRequest& r = gen_.request();
  const std::vector<ddpm::io::Image> images = shown_images();
  std::vector<ddpm_host::SheetFrame> frames;
  for (int i = 0; i < shown_.batch; ++i) {
    const int c = i < static_cast<int>(r.classes.size()) ? r.classes[i] : -1;
    const std::string cls = c >= 0 && c < static_cast<int>(model_.class_names.size()) ? model_.class_names[c] : "";
    frames.push_back({(cls.empty() ? std::string("image") : cls) + "_" + std::to_string(i), cls, r.seed + i});
  }
  const std::string path = export_path("ddpm_sheet_seed" + std::to_string(r.seed));
  try {
    fs::create_directories(export_dir_);
    const nlohmann::json meta = {{"model", model_.path()}, {"sampler", r.sampler}, {"steps", r.steps},
                                 {"guidance", r.guidance}};
    const std::string atlas = ddpm_host::write_sprite_sheet(path, images, frames, meta);
    say("saved " + path + " and " + atlas);
  } catch (const std::exception& e) {
    say(std::string("cannot save: ") + e.what(), true);
  }
}

void Studio::scripted_step() {
  if (now_seconds() - started_at_ > options_.timeout_seconds) {
    std::fprintf(stderr, "ddpm-studio: scripted run timed out after %.0f s\n", options_.timeout_seconds);
    exit_code_ = 3;
    close_requested_ = true;
    return;
  }
  if (options_.panel == "live") return live_scripted_step();
  if (!scripted_started_) {
    scripted_started_ = true;
    if (options_.panel == "train") {
      start_training();
    } else {
      start_generation();
    }
    return;
  }
  const bool busy = options_.panel == "train" ? train_.poll().running : gen_.running();
  if (options_.close_during_job) {
    if (busy && (gen_.step() >= 2 || train_.poll().step >= 2)) {
      std::fprintf(stderr, "ddpm-studio: closing while the job runs (step %d)\n", gen_.step());
      close_requested_ = true;
    } else if (!busy) {
      std::fprintf(stderr, "ddpm-studio: the job ended before the window could close during it\n");
      exit_code_ = 4;
      close_requested_ = true;
    }
    return;
  }
  if (frame_count_ >= options_.frames && !busy && !screenshot_pending_) {
    screenshot_pending_ = true;  // taken after this frame renders
    const std::string status = options_.panel == "train" ? train_.poll().status : gen_.status();
    if (status != "done") {
      std::fprintf(stderr, "ddpm-studio: the %s job did not finish: %s\n", options_.panel.c_str(),
                   status.empty() ? "it never started" : status.c_str());
      exit_code_ = 1;
    }
  }
}

void Studio::after_render(int fb_width, int fb_height) {
  if (!screenshot_pending_) return;
  screenshot_pending_ = false;
  close_requested_ = true;
  if (options_.screenshot.empty()) return;
  ddpm::io::Image shot;
  shot.width = fb_width;
  shot.height = fb_height;
  shot.channels = 4;
  shot.pixels = read_framebuffer(fb_width, fb_height);
  const GenerateRequest& r = gen_.request();
  nlohmann::json side = {
      {"screenshot", fs::path(options_.screenshot).filename().string()},
      {"panel", options_.panel},
      {"preview", {{"x", preview_rect_[0]}, {"y", preview_rect_[1]}, {"w", preview_rect_[2]}, {"h", preview_rect_[3]}}},
      {"grid", {{"cols", layout_.cols}, {"rows", layout_.rows}, {"cell_w", layout_.cell_w},
                {"cell_h", layout_.cell_h}, {"gap", layout_.gap}, {"batch", layout_.batch}}},
      {"checker", style_.checker},
      {"background", {style_.background[0], style_.background[1], style_.background[2]}},
      {"model", fs::absolute(options_.panel == "live" ? live_model().path() : model_.path()).string()},
      {"request", {{"classes", r.classes}, {"guidance", r.guidance}, {"sampler", r.sampler},
                   {"steps", r.steps}, {"eta", r.eta}, {"seed", r.seed}, {"batch", r.batch},
                   {"tiling", r.tiling}, {"clip_x0", r.clip_x0}, {"guidance_interval", r.guidance_interval}}},
      {"status", options_.panel == "train" ? train_.poll().status : gen_.status()},
  };
  if (options_.panel == "live") live_side(side);
  if (options_.panel == "train") {
    side["train"] = {{"processes", train_.request().processes}, {"messages", train_.poll().messages}};
  }
  try {
    ddpm::io::write_png(options_.screenshot, shot);
    const std::string text = side.dump(2) + "\n";
    ddpm::io::write_file_atomic(options_.screenshot + ".json", text.data(), text.size());
    std::fprintf(stderr, "ddpm-studio: wrote %s\n", options_.screenshot.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddpm-studio: cannot write the screenshot: %s\n", e.what());
    exit_code_ = 1;
  }
}

void Studio::shutdown() {
  if (gen_.running()) std::fprintf(stderr, "ddpm-studio: cancelling the running generation\n");
  gen_.cancel();
  train_.stop();
  if (live_.is_open()) {
    // Pause, then close: the worker finishes its current call and the stream is freed before
    // the model and the GL context go.
    std::fprintf(stderr, "ddpm-studio: %s the live stream\n", live_.running() ? "pausing and closing" : "closing");
    live_.close();
  }
  if (live_used_) remember_live_settings();
  int w = 0, h = 0;
  glfwGetWindowSize(window_, &w, &h);
  if (options_.frames == 0 && w > 0 && h > 0) {
    settings_.window_width = w;
    settings_.window_height = h;
  }
  std::string error;
  if (!save_settings(options_.settings_path, settings_, error)) {
    std::fprintf(stderr, "ddpm-studio: cannot save the settings: %s\n", error.c_str());
  }
}

}  // namespace studio
