#pragma once
// The studio's state and its frame: the model, the generation and training jobs, the preview,
// the panels, and the scripted mode used by the tests and the README's screenshots.
#include <memory>
#include <string>
#include <vector>

#include "frame_grid.h"
#include "generation.h"
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
  std::string panel = "generate";  // or "train"
  std::string train_folder, train_out;
  long long train_steps = 300;
  bool train_finetune = false;
  std::string init_image;  // image-to-image from this file
  float strength = 0.75f;
  bool inpaint_center = false;  // scripted: regenerate the middle half (a painted mask)  // fine-tune the loaded model instead of a new one
  bool close_during_job = false;  // scripted: close the window while the job runs
  bool flat_background = false;   // preview over flat gray instead of the checkerboard
  std::string settings_path;      // "" none (scripted mode), else the file to read and write
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
  void draw_preview_window();
  void start_generation();
  void start_training();
  void export_selected();
  void export_grid();
  void export_sheet();

 private:
  void handle_shortcuts();
  void scripted_step();
  void upload_frame(const Frame& f);
  void load_model(const std::string& path);
  std::string export_path(const std::string& stem) const;
  std::vector<ddpm::io::Image> shown_images() const;  // the frame on screen, image by image, RGBA8
  void say(const std::string& message, bool error = false);

  GLFWwindow* window_;
  const ddpm_host::Plugin& plugin_;
  StudioOptions options_;
  Settings settings_;

  ModelState model_;
  GenerationController gen_;
  TrainingController train_;
  // One renderer per view: each owns the target texture ImGui draws at the end of the frame.
  std::unique_ptr<PreviewRenderer> preview_, mask_view_;
  MaskEditor mask_;
  Texture frame_tex_, sample_tex_;
  GridLayout layout_;
  Frame shown_;  // the frame on screen (latest, or a scrubbed one)

  // Generate panel state.
  std::string model_path_input_, model_error_;
  int class_choice_ = -1;  // -1 none
  int sampler_choice_ = 2;
  int steps_ = 20, batch_ = 4;
  float guidance_ = 3.0f, eta_ = 0.0f;
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
  std::string train_folder_input_, train_out_input_ = "out/studio/model.safetensors";
  std::string save_as_input_;
  int train_mode_ = 0;  // 0 new model, 1 fine-tune the loaded one
  int preset_choice_ = 0;
  int train_steps_ = 2000, train_batch_ = 32, sample_every_ = 250;
  float train_lr_ = 3e-4f;
  bool train_flip_ = true, train_pixel_art_ = false, train_freeze_ = false;
  std::string shown_grid_;  // the sample grid in sample_tex_
  bool train_tab_active_ = false;  // the preview then shows the training's sample grid
  std::string train_error_;

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
