#pragma once
// The studio's state and its frame: the model, the generation and training jobs, the live
// stream, the preview, the panels, and the scripted mode used by the tests and the README's
// screenshots.
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "ddpm/io/image.h"
#include "frame_grid.h"
#include "generation.h"
#include "live.h"
#include "mask_editor.h"
#include "model_state.h"
#include "preview.h"
#include "settings.h"
#include "training.h"

struct GLFWwindow;

namespace studio {

struct StudioOptions {
  std::string model;  // "" -> the settings' last model, else the default model
  std::string class_arg;
  std::string sampler;
  int steps = 0;  // 0: the settings'
  long long seed = -1;  // -1: a new seed each run
  float guidance = -1;  // < 0: the model's
  int batch = 0;
  bool preview_x0 = false;
  bool tiling = false;
  // Scripted mode (tests, documentation): when frames > 0 the studio starts the job of
  // `panel` at once, renders at least `frames` frames and until the job ends, writes the
  // screenshot (and <screenshot>.json describing where the preview is) and exits.
  int frames = 0;
  std::string screenshot;
  std::string panel = "generate";  // or "train" or "live"
  std::string train_folder, train_out;
  long long train_steps = 300;
  double train_minutes = 0;  // > 0: a time budget instead of train_steps
  bool train_finetune = false;
  bool train_distill = false;  // --train-distill: the Train panel distils the loaded model's Live student
  int train_processes = 1;
  std::string init_image;  // image-to-image from this file
  float strength = 0.75f;
  bool inpaint_center = false;  // scripted: regenerate the middle half (a painted mask)  // fine-tune the loaded model instead of a new one
  bool close_during_job = false;  // scripted: close the window while the job runs
  bool flat_background = false;   // preview over flat gray instead of the checkerboard
  std::string settings_path;      // "" none (scripted mode), else the file to read and write
  // Scripted Live mode: the stream runs until `live_frames` frames are finished. By default the
  // render thread advances it one call a frame (deterministic: the test replays the same calls
  // through the plugin); live_run uses the plugin's worker at live_fps instead. With
  // live_class_after >= 0 the class becomes live_class after that many calls.
  int live_frames = 0;
  bool live_run = false;
  float live_fps = 0.0f;
  long long live_class_after = -1;
  std::string live_class;
  std::string live_seed_path;  // "fixed", "walk", "new"; "" the settings'
  float live_blend = -1.0f;    // < 0: the settings'
  bool live_inflight = false;
  std::string precision;  // --precision, set in the plugin by main() ("": the plugin's default, auto)
  std::string device;     // --device: where models run ("": the CPU)
  double timeout_seconds = 900;
  float ui_scale = 1.0f;  // the monitor's content scale (high-DPI)
};

class Studio {
 public:
  // `settings`: what load_settings read from options.settings_path (main needs them first,
  // for the window size); saved back there at shutdown.
  Studio(GLFWwindow* window, const ddpm_host::Plugin& plugin, StudioOptions options, Settings settings);
  ~Studio();
  // Loads the shaders and the model. A shader error is fatal (returns false, `error` says
  // which file); a model error is shown in the UI.
  bool init(std::string& error);
  // Builds and renders one frame (ImGui's NewFrame..Render are done by the caller).
  void frame();
  // After ImGui rendered into the back buffer: screenshots for the scripted mode.
  void after_render(int fb_width, int fb_height);
  bool should_close() const { return close_requested_; }
  int exit_code() const { return exit_code_; }
  void shutdown();  // cancels running jobs (waits for them) and saves the settings

  // -- used by the panels (generate_panel.cpp, train_panel.cpp) --
  void draw_model_section();
  void draw_generate_panel();
  void draw_image_to_image();
  void draw_train_panel();
  void draw_live_panel();
  void draw_live_preview();
  void draw_preview_window();
  void start_generation();
  void start_training();
  void start_live();
  void export_selected();
  void export_grid();
  void export_sheet();

 private:
  void handle_shortcuts();
  void scripted_step();
  void upload_frame(const Frame& f);
  // Live mode (live_panel.cpp, live_script.cpp).
  bool open_live();     // opens the stream with the panel's choices (and pushes the input image)
  void restart_live();  // reopens after a change that needs it, running again if it ran
  void step_live();     // one call while paused
  void pause_live();
  void poll_live();     // reads the stream once a frame and uploads what changed
  void live_error(const std::string& error);
  void remember_live_settings();  // at shutdown, when a stream ran: steering changes count too
  bool set_live_input(const ddpm::io::Image& image, const std::string& source);
  void live_scripted_step();
  void live_side(nlohmann::json& side) const;  // the screenshot's description, Live part
  void load_model(const std::string& path);
  std::string export_path(const std::string& stem) const;
  std::vector<ddpm::io::Image> shown_images() const;  // the frame on screen, image by image, RGBA8
  void say(const std::string& message, bool error = false);

  GLFWwindow* window_;
  const ddpm_host::Plugin& plugin_;
  StudioOptions options_;
  Settings settings_;

  ModelState model_;
  // The Live panel's model: a guidance-distilled student saved beside the model as
  // MODEL.student.safetensors (a fine-tune's, written by training) or student.safetensors (the
  // default model ships one: one forward per stage instead of two),
  // else the model itself.
  ModelState student_;
  const ModelState& live_model() const { return student_.loaded() ? student_ : model_; }
  void load_student(const std::string& model_path);
  // The Model section's Device combo: loads the model (and its student) again on `device`,
  // and keeps the previous device when that fails (the message says why).
  void set_device(const std::string& device);
  GenerationController gen_;
  TrainingController train_;
  // One renderer per view: each owns the target texture ImGui draws at the end of the frame.
  std::unique_ptr<PreviewRenderer> preview_, mask_view_, slots_view_;
  MaskEditor mask_;
  Texture frame_tex_, sample_tex_;
  GridLayout layout_;
  Frame shown_;  // the frame on screen (latest, or a scrubbed one)

  // Generate panel state.
  std::string model_path_input_, model_error_;
  int class_choice_ = -1;  // -1 none
  int sampler_choice_ = 4;  // settings_.sampler's default
  int steps_ = 8, batch_ = 4;
  float guidance_ = 3.0f, eta_ = 0.0f;
  bool guidance_interval_ = true;  // the plugin's per-sampler interval; off: every step
  bool new_seed_each_run_ = true;
  long long seed_ = 1;
  int preview_every_ = 1;
  bool preview_x0_ = false, tiling_ = false, clip_x0_ = true;
  bool use_init_ = false, inpaint_ = false;
  float strength_ = 0.75f, brush_ = 3.0f;
  std::string init_path_input_;
  float variation_ = 0.0f;
  long long variation_seed_ = 2;
  bool animate_ = false;
  float animate_speed_ = 0.08f, animate_t_ = 0.0f;
  PreviewStyle style_;
  int zoom_ = 0;  // 0 fit, else a whole factor
  int timeline_ = -1;  // -1 live, else an index in the history
  int selected_ = 0;   // the image of the batch that exports and the tiling preview use
  std::string export_dir_ = "out/studio";

  // Train panel state.
  static constexpr const char* kDefaultTrainOut = "out/studio/model.safetensors";
  std::string train_folder_input_, train_out_input_ = kDefaultTrainOut;
  std::string save_as_input_;
  int train_mode_ = 0;  // 0 new model, 1 fine-tune the loaded one, 2 distil its Live student
  int preset_choice_ = 0;
  int train_steps_ = 2000, train_batch_ = 32, sample_every_ = 250, train_processes_ = 1;
  float train_lr_ = 0, train_minutes_ = 0;  // lr 0: the plugin's recipe
  bool train_flip_ = true, train_pixel_art_ = false, train_freeze_ = false;
  int train_crop_ = 0;  // the Crops combo: 0 auto, 1 off, 2 on (random_crop + 1)
  int train_precision_ = 0;  // the Precision combo: 0 auto, 1 float32, 2 bf16 (bf16 + 1)
  int train_lora_rank_ = 0;  // 0: the plugin's choice (every weight, or a resumed run's adapters)
  float train_strength_ = 0;  // fine-tunes: 0 the plugin's choice (strength -1)
  std::string shown_grid_;  // the sample grid in sample_tex_ (beside the first, when there is one)
  ddpm::io::Image first_grid_;  // the run's first grid: a fine-tune's is the model before it
  std::string first_grid_name_;  // its name (step_0), "" until the run has one
  bool train_tab_active_ = false;  // the preview then shows the training's sample grid
  std::string train_error_;

  // Live panel state. live_req_ holds the panel's choices; the stream follows them (steering
  // at once, the rest by reopening it).
  LiveController live_;
  LiveRequest live_req_;
  float live_fps_ = 0.0f;  // target calls per second, 0 as fast as possible
  bool live_inflight_ = false;
  bool live_show_slots_ = true;
  bool live_tab_active_ = false;
  bool live_used_ = false;  // a stream was opened this session (its settings are remembered)
  std::string live_input_path_, live_input_source_, live_error_;
  ddpm::io::Image live_input_;  // RGBA8 at the model's size; empty: none
  Texture live_tex_, live_slots_tex_, live_input_tex_;
  GridLayout live_layout_, live_slots_layout_;
  float live_slots_rect_[4] = {0, 0, 0, 0};
  bool live_class_switched_ = false;  // scripted --live-class-after done
  std::string live_status_;           // scripted: "done", or why not
  bool bf16_ = false;                 // ddpm_set_precision's state, process-wide
  std::string precision_error_;       // why bf16 was refused

  // Status line and scripted mode.
  std::string message_;
  bool message_is_error_ = false;
  long long frame_count_ = 0;
  double started_at_ = 0;
  bool scripted_started_ = false, close_requested_ = false, screenshot_pending_ = false;
  int exit_code_ = 0;
  float preview_rect_[4] = {0, 0, 0, 0};  // framebuffer pixels: x, y, w, h of the preview image
};

}  // namespace studio
