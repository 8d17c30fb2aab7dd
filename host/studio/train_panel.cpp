// The Train panel: a new model or a fine-tune of the loaded one on an asset folder, with a
// live loss plot, speed and ETA, the latest sample grid, and saving the result.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/file_bytes.h"
#include "ddpm/io/png.h"
#include "clock_text.h"
#include "studio.h"

namespace studio {
namespace fs = std::filesystem;

namespace {
const char* const kPresets[] = {"sprite32", "sprite32v2", "seed64"};
constexpr int kMaxTrainProcesses = 8;

}  // namespace

// The Start button and the scripted mode: the panel's settings as a training job.
void Studio::start_training() {
  TrainRequest r;
  r.assets = train_folder_input_;
  r.out_model = train_out_input_;
  if (train_mode_ != 0 && model_.loaded()) r.init_model = model_.path();
  r.distill = train_mode_ == 2;
  r.preset = kPresets[preset_choice_];
  r.steps = train_steps_;
  r.minutes = std::max(0.0f, train_minutes_);
  r.batch = train_batch_;
  r.lr = train_lr_;
  const fs::path dir = fs::path(train_out_input_).parent_path();
  r.sample_dir = (dir / (r.distill ? "student-samples" : "samples")).string();  // a student's grids beside the model's
  r.checkpoint = (dir / (fs::path(train_out_input_).stem().string() + ".checkpoint.pt")).string();
  r.sample_every = std::max(1, sample_every_);
  r.flip = train_flip_;
  r.pixel_art = train_pixel_art_;
  r.random_crop = train_crop_ - 1;
  r.bf16 = train_precision_ - 1;
  r.freeze = train_mode_ == 1 && train_freeze_;
  // 0 in the field is the plugin's choice (-1): every weight, or the adapters of a resumed run.
  const bool adapters_allowed = train_mode_ == 1 && !train_freeze_ && train_processes_ == 1;
  r.lora_rank = adapters_allowed ? (train_lora_rank_ > 0 ? train_lora_rank_ : -1) : 0;
  r.strength = train_mode_ == 1 && train_strength_ > 0 ? train_strength_ : -1;
  r.processes = r.distill ? 1 : train_processes_;  // distillation runs in one process
  std::error_code ec;
  if (!dir.empty()) fs::create_directories(dir, ec);
  train_error_.clear();
  first_grid_name_.clear();  // the new run's first grid is the left one
  if (!train_.start(r, train_error_)) say("cannot train: " + train_error_, true);
  else settings_.last_folder = train_folder_input_;
}

void Studio::draw_train_panel() {
  const TrainSnapshot& s = train_.poll();
  ImGui::BeginDisabled(s.running);
  ImGui::InputText("Asset folder", &train_folder_input_);
  ImGui::TextDisabled("one subfolder of images per class");
  const int mode = train_mode_;
  ImGui::RadioButton("New model", &train_mode_, 0);
  ImGui::SameLine();
  ImGui::BeginDisabled(!model_.loaded());
  ImGui::RadioButton("Fine-tune the loaded model", &train_mode_, 1);
  ImGui::EndDisabled();
  // Leaving the student mode: a model is not written over the student's file.
  if (mode == 2 && train_mode_ != 2 && train_out_input_ == student_path_for(model_.path())) {
    train_out_input_ = kDefaultTrainOut;
  }
  ImGui::BeginDisabled(!model_.loaded() || model_.guidance_input);
  if (ImGui::RadioButton("Distil its Live student", &train_mode_, 2)) {
    train_out_input_ = student_path_for(model_.path());  // where the Live tab looks for it
    if (train_minutes_ <= 0) train_minutes_ = 3;
  }
  ImGui::EndDisabled();
  if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) {
    ImGui::SetTooltip("A student that takes the guidance scale as an input: the Live tab then\n"
                      "streams at one network image a stage instead of up to two. 3 minutes gave a\n"
                      "fine-tune's student the model's own scores (tests/bench/NOTES.md).\n"
                      "A fine-tune already writes a quick one when the model had a student.");
  }
  if (train_mode_ == 0) {
    ImGui::Combo("Preset", &preset_choice_, kPresets, IM_ARRAYSIZE(kPresets));
  } else if (train_mode_ == 1) {
    ImGui::Checkbox("Freeze all but the last layers", &train_freeze_);
    ImGui::BeginDisabled(train_freeze_);
    ImGui::InputInt("LoRA rank", &train_lora_rank_, 4, 16);
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) {
      ImGui::SetTooltip("Above 0: train low-rank adapters of this rank beside the frozen\n"
                        "convolution and attention weights (the saved model holds the merged\n"
                        "weights). 0: train every weight (the default, measured level or better\n"
                        "per minute), or continue a resumed run's adapters.");
    }
    ImGui::InputFloat("Strength", &train_strength_, 0.05f, 0.25f, train_strength_ <= 0 ? "auto" : "%.2f");
    train_strength_ = std::min(train_strength_, 2.0f);
    if (ImGui::IsItemHovered()) {
      ImGui::SetTooltip("The model saved is the loaded one + strength x (tuned - loaded):\n"
                        "1 the tuned weights, lower keeps more of the loaded model, up to 2\n"
                        "extrapolates. 0 (auto): 0.85 with LoRA adapters, measured best for\n"
                        "them (tests/bench/NOTES.md); 1 for every weight.");
    }
  }
  ImGui::InputFloat("Minutes", &train_minutes_, 1, 5, "%.1f");
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip("A time budget: above 0 the run measures its speed, picks the steps\n"
                      "and ends with a model on time (warm-up, decay and EMA fit it).\n"
                      "0: train for the steps below.");
  }
  ImGui::BeginDisabled(train_minutes_ > 0);
  ImGui::InputInt("Steps", &train_steps_, 100, 1000);
  ImGui::EndDisabled();
  ImGui::InputInt("Batch", &train_batch_, 1, 8);
  ImGui::BeginDisabled(train_mode_ == 2);  // distillation runs in one process
  ImGui::SliderInt("Processes", &train_processes_, 1, kMaxTrainProcesses);
  ImGui::EndDisabled();
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip("Data-parallel training on this machine: the plugin starts the extra\n"
                      "processes and the cores are shared among them. The batch is the\n"
                      "whole batch and must divide evenly among the processes.");
  }
  ImGui::InputFloat("Learning rate", &train_lr_, 0, 0, train_lr_ == 0 ? "auto" : "%.1e");
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip("0 (auto): 3e-4 for a new model, 5e-4 for a fine-tune of every\n"
                      "weight, 2e-3 for one through LoRA adapters, 5e-5 for a student\n"
                      "(measured best per minute, tests/bench/NOTES.md)");
  }
  ImGui::InputInt("Sample every", &sample_every_, 50, 500);
  ImGui::Checkbox("Flip", &train_flip_);
  ImGui::SameLine();
  ImGui::Checkbox("Pixel art", &train_pixel_art_);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 5);
  ImGui::Combo("Crops", &train_crop_, "auto\0off\0on\0");
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip("Random resized crops (zoom up to 1.12x, stretch up to 4:3).\n"
                      "auto: off for a fine-tune, whose samples would copy the zoom\n"
                      "and stretch; on for a new model");
  }
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 6);
  ImGui::Combo("Precision", &train_precision_, "auto\0float32\0bf16\0");
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip("bf16: convolutions in bfloat16, weights in float32; 1.5x the\n"
                      "images per second on a CPU with AVX512-BF16, the same scores a step.\n"
                      "auto: bf16 on such a CPU (float32 for several processes and CUDA)");
  }
  ImGui::InputText("Output model", &train_out_input_);
  ImGui::EndDisabled();

  if (!s.running) {
    if (ImGui::Button("Start training")) start_training();
  } else if (ImGui::Button("Stop")) {
    train_.stop();  // the job writes its checkpoint and the model before it ends
  }

  // Progress.
  char label[128];
  std::snprintf(label, sizeof label, "%lld / %lld", static_cast<long long>(s.step), static_cast<long long>(s.total));
  ImGui::ProgressBar(s.total > 0 ? static_cast<float>(s.step) / s.total : 0.0f, ImVec2(-1, 0), label);
  ImGui::Text("loss %.4f   %.1f images/s   ETA %s", s.loss, s.images_per_second, ddpm_host::clock_text(s.eta_seconds).c_str());
  if (!s.loss_history.empty()) {
    // The plot runs from 0 to the highest value: the overlay gives the scale.
    const float top = *std::max_element(s.loss_history.begin(), s.loss_history.end());
    char overlay[96];
    std::snprintf(overlay, sizeof overlay, "loss (smoothed) %.4f, top %.4f", s.loss_history.back(), top);
    ImGui::PlotLines("##loss", s.loss_history.data(), static_cast<int>(s.loss_history.size()), 0,
                     overlay, 0.0f, top,
                     ImVec2(ImGui::GetContentRegionAvail().x, 90 * options_.ui_scale));
  }
  if (!s.status.empty()) {
    if (s.status == "done" || s.status == "stopped") {
      ImGui::Text("training %s: %s", s.status.c_str(), train_.request().out_model.c_str());
    } else {
      ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1.0f), "%s", s.status.c_str());
    }
  }
  if (!train_error_.empty()) ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1.0f), "%s", train_error_.c_str());

  // The newest sample grid (EMA weights), reloaded when a new one is announced, beside the
  // run's first (a fine-tune's shows the model before it), so that progress can be judged.
  if (!s.sample_grid.empty() && s.sample_grid != shown_grid_) {
    try {
      const ddpm::io::Image im = ddpm::io::to_rgba(ddpm::io::read_image(s.sample_grid));
      if (first_grid_name_.empty()) {
        first_grid_ = im;
        first_grid_name_ = fs::path(s.sample_grid).stem().string();
      }
      const bool pair = first_grid_.width == im.width && first_grid_.height == im.height &&
                        first_grid_name_ != fs::path(s.sample_grid).stem().string();
      const ddpm::io::Image shown = pair ? ddpm::io::make_grid({first_grid_, im}, 2, 6) : im;
      sample_tex_.upload_rgba8(shown.pixels.data(), shown.width, shown.height);
    } catch (const std::exception& e) {
      say(std::string("cannot show the sample grid: ") + e.what(), true);
    }
    shown_grid_ = s.sample_grid;
  }
  if (sample_tex_.id()) {
    const std::string now = fs::path(shown_grid_).stem().string();
    if (now == first_grid_name_) ImGui::Text("samples at %s: in the preview", now.c_str());
    else ImGui::Text("samples at %s (left) and %s: in the preview", first_grid_name_.c_str(), now.c_str());
  }

  // The result: load it for generating, or save a copy.
  std::error_code ec;
  const std::string& out = train_.request().out_model;
  if (!s.running && !out.empty() && fs::exists(out, ec)) {
    // A distilled student is loaded with its teacher, which the Live tab then pairs it with.
    const bool student = train_.request().distill;
    if (ImGui::Button(student ? "Load the model with its new student" : "Load trained model")) {
      load_model(student ? train_.request().init_model : out);
    }
    ImGui::InputText("##saveas", &save_as_input_);
    ImGui::SameLine();
    if (ImGui::Button("Save model as") && !save_as_input_.empty()) {
      try {
        ddpm::io::write_file_atomic(save_as_input_, ddpm::io::read_file(out, size_t(1) << 34));
        // A fine-tune's Live student goes along under the new name, where the Live tab looks.
        const std::string student = student_path_for(out);
        if (!train_.request().distill && fs::exists(student, ec)) {
          ddpm::io::write_file_atomic(student_path_for(save_as_input_), ddpm::io::read_file(student, size_t(1) << 34));
        }
        say("saved " + save_as_input_);
      } catch (const std::exception& e) {
        say(std::string("cannot save the model: ") + e.what(), true);
      }
    }
  }
  if (!s.messages.empty() && ImGui::TreeNode("Log")) {
    for (const auto& m : s.messages) ImGui::TextWrapped("%s", m.c_str());
    ImGui::TreePop();
  }
}

}  // namespace studio
