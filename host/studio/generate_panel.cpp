// The Model section, the Generate panel (with image-to-image and inpainting) and the Preview
// window with its progress, timeline and export buttons.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cmath>

#include "studio.h"
#include "widgets.h"

namespace studio {

namespace {
// The Device combo's choices and the ddpm_model_params.device each stands for.
constexpr const char* kDeviceLabels[] = {"CPU", "CUDA", "Automatic"};
constexpr const char* kDeviceNames[] = {"cpu", "cuda", "auto"};

int device_index(const std::string& device) {
  if (device.rfind("cuda", 0) == 0) return 1;
  return device == "auto" ? 2 : 0;
}
}  // namespace

void Studio::draw_model_section() {
  if (!ImGui::CollapsingHeader("Model", ImGuiTreeNodeFlags_DefaultOpen)) return;
  ImGui::InputText("##model", &model_path_input_);
  ImGui::SameLine();
  if (ImGui::Button("Load")) load_model(model_path_input_);
  int device = device_index(model_.device());
  ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.5f);
  if (ImGui::Combo("Device", &device, kDeviceLabels, 3)) set_device(kDeviceNames[device]);
  help("Where the model runs. CUDA needs a plugin built against a CUDA LibTorch and an NVIDIA GPU; "
       "Automatic takes CUDA when both are there, else the CPU. The model loads again on the new device.");
  if (model_.loaded()) {
    ImGui::TextWrapped("%s", model_.summary.c_str());
    if (!model_.class_names.empty() && ImGui::TreeNode("Classes")) {
      for (size_t i = 0; i < model_.class_names.size(); ++i) ImGui::BulletText("%zu  %s", i, model_.class_names[i].c_str());
      ImGui::TreePop();
    }
  } else {
    ImGui::TextDisabled("no model loaded");
  }
  error_text(model_error_);
}

void Studio::draw_generate_panel() {
  const bool can = model_.loaded();
  class_combo("Class", class_choice_, model_.class_names);
  ImGui::SliderFloat("Guidance", &guidance_, 0.0f, 10.0f, "%.1f");
  help("Classifier-free guidance: 0 ignores the class, 1 is plain conditional, higher follows the class more closely.");
  ImGui::Checkbox("Guidance interval", &guidance_interval_);
  help("DPM-Solver++ 2M SDE guides only where the noise level sigma is at most 20: on the default model "
       "better images (accuracy 0.88 -> 0.91, distance 1.73 -> 1.41) from fewer network images. "
       "Off: guidance at every step. The other samplers always guide every step.");
  ImGui::Combo("Sampler", &sampler_choice_, kSamplerLabels, kSamplerCount);
  const int max_steps = model_.timesteps > 0 ? model_.timesteps : 1000;
  ImGui::SliderInt("Steps", &steps_, 1, std::min(max_steps, sampler_choice_ == 0 ? max_steps : 200));
  if (sampler_choice_ == 1) ImGui::SliderFloat("Eta", &eta_, 0.0f, 1.0f, "%.2f");
  ImGui::Checkbox("New seed each run", &new_seed_each_run_);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.5f);
  ImGui::InputScalar("Seed", ImGuiDataType_S64, &seed_);
  seed_ = std::max(0LL, seed_);
  ImGui::SliderInt("Batch", &batch_, 1, 64);
  ImGui::SliderInt("Preview every", &preview_every_, 1, 50, "%d steps");
  ImGui::Checkbox("Show x0 estimate", &preview_x0_);
  help("Preview the model's current guess of the clean image instead of the noisy latent x_t.");
  ImGui::SameLine();
  ImGui::Checkbox("Tiling", &tiling_);
  help("Seamless textures: circular padding in every convolution. Use 'Tile 3x3' in the preview to see the seams.");
  ImGui::SameLine();
  ImGui::Checkbox("Clip x0", &clip_x0_);
  help("Clamp the clean-image estimate to the colour range at every step (recommended for few steps).");

  if (ImGui::CollapsingHeader("Variation and animation")) {
    ImGui::SliderFloat("Variation", &variation_, 0.0f, 1.0f, "%.2f");
    help("Mixes the start noise towards the variation seed's (spherical interpolation): small values give variations of the same image.");
    ImGui::InputScalar("Variation seed", ImGuiDataType_S64, &variation_seed_);
    variation_seed_ = std::max(0LL, variation_seed_);
    ImGui::Checkbox("Animate", &animate_);
    help("Keeps generating along a path of seeds: each run moves a little further from one seed's image to the next.");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.6f);
    ImGui::SliderFloat("Speed", &animate_speed_, 0.01f, 0.5f, "%.2f");
  }
  draw_image_to_image();

  ImGui::Separator();
  ImGui::BeginDisabled(!can);
  if (ImGui::Button(gen_.running() ? "Restart (G)" : "Generate (G)")) start_generation();
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::BeginDisabled(!gen_.running() && !animate_);
  if (ImGui::Button("Cancel (Esc)")) {
    animate_ = false;
    gen_.cancel();
  }
  ImGui::EndDisabled();
}

void Studio::draw_image_to_image() {
  if (use_init_ && frame_count_ <= 1) ImGui::SetNextItemOpen(true);
  if (!ImGui::CollapsingHeader("Image to image and inpainting")) return;
  if (!model_.loaded()) {
    ImGui::TextDisabled("load a model first");
    return;
  }
  ImGui::InputText("Image file", &init_path_input_);
  if (ImGui::Button("Load image")) {
    std::string error;
    if (mask_.load(init_path_input_, model_.width, model_.height, error)) {
      use_init_ = true;
      say("loaded " + init_path_input_ + " as the init image");
    } else {
      say("cannot load the image: " + error, true);
    }
  }
  ImGui::SameLine();
  ImGui::BeginDisabled(shown_.data.empty());
  if (ImGui::Button("Use selected result")) {
    const int i = std::min(selected_, std::max(0, shown_.batch - 1));
    mask_.set(frame_image_rgba8(shown_.data.data(), shown_.width, shown_.height, shown_.channels, i),
              model_.width, model_.height);
    use_init_ = true;
  }
  ImGui::EndDisabled();
  if (!mask_.has_image()) return;
  ImGui::Checkbox("Use init image", &use_init_);
  ImGui::SliderFloat("Strength", &strength_, 0.0f, 1.0f, "%.2f");
  help("How much noise is added to the init image: 0 returns it, 1 ignores it.");
  ImGui::Checkbox("Inpaint", &inpaint_);
  help("Paint with the left mouse button where new pixels should be generated; the right button restores.");
  if (inpaint_) {
    ImGui::SliderFloat("Brush", &brush_, 0.5f, 16.0f, "%.1f px");
    if (ImGui::Button("Clear mask")) mask_.fill_mask(255);
    ImGui::SameLine();
    if (ImGui::Button("Invert mask")) mask_.invert_mask();
  }
  mask_.sync_textures();
  const float side = std::min(ImGui::GetContentRegionAvail().x, 256.0f * options_.ui_scale);
  const ImVec2 fb = ImGui::GetIO().DisplayFramebufferScale;
  PreviewStyle st = style_;
  st.tile3x3 = false;
  st.show_mask = inpaint_;
  const GridRect rect{0, 0, mask_.image().width, mask_.image().height};
  const GLuint tex = mask_view_->render(mask_.image_texture(), rect, mask_.mask_texture().id(),
                                      static_cast<int>(side * fb.x), static_cast<int>(side * fb.y), st);
  const ImVec2 at = ImGui::GetCursorScreenPos();
  ImGui::Image(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(tex)), ImVec2(side, side));
  if (inpaint_ && ImGui::IsItemHovered()) {
    const ImVec2 m = ImGui::GetIO().MousePos;
    const float u = (m.x - at.x) / side, v = (m.y - at.y) / side;
    if (ImGui::IsMouseDown(ImGuiMouseButton_Left)) mask_.paint(u, v, brush_, true);
    if (ImGui::IsMouseDown(ImGuiMouseButton_Right)) mask_.paint(u, v, brush_, false);
  }
}

void Studio::draw_preview_window() {
  if (train_tab_active_ && sample_tex_.id()) {
    // While training, the preview shows the newest sample grid (EMA weights, DPM-Solver++).
    ImGui::Text("Samples of the model being trained: %s", shown_grid_.c_str());
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float s = std::min(avail.x / sample_tex_.width(), avail.y / sample_tex_.height());
    ImGui::Image(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(sample_tex_.id())),
                 ImVec2(sample_tex_.width() * s, sample_tex_.height() * s));
    return;
  }
  // Progress: step, total, speed.
  const int step = gen_.step(), total = std::max(1, gen_.total());
  char label[96];
  std::snprintf(label, sizeof label, "%d / %d  %.1f steps/s", step, total, gen_.steps_per_second());
  ImGui::ProgressBar(static_cast<float>(step) / total, ImVec2(-1, 0), label);
  if (message_is_error_) error_text(message_);
  else ImGui::TextWrapped("%s", message_.c_str());

  // View options.
  ImGui::Checkbox("Linear filter", &style_.linear);
  ImGui::SameLine();
  ImGui::Checkbox("Checkerboard", &style_.checker);
  ImGui::SameLine();
  ImGui::Checkbox("Tile 3x3", &style_.tile3x3);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(110 * options_.ui_scale);
  const char* zooms[] = {"Fit", "1x", "2x", "4x", "8x", "16x"};
  int zoom_index = zoom_ == 0 ? 0 : 1 + static_cast<int>(std::log2(zoom_));
  if (ImGui::Combo("Zoom", &zoom_index, zooms, 6)) zoom_ = zoom_index == 0 ? 0 : 1 << (zoom_index - 1);

  // Timeline: scrub back through the recorded steps of the last run.
  const auto& history = gen_.history();
  if (!history.empty()) {
    int pos = timeline_ < 0 ? static_cast<int>(history.size()) - 1 : timeline_;
    char fmt[64];
    std::snprintf(fmt, sizeof fmt, "step %d", history[std::clamp(pos, 0, int(history.size()) - 1)].step);
    ImGui::SetNextItemWidth(-110 * options_.ui_scale);
    if (ImGui::SliderInt("##timeline", &pos, 0, static_cast<int>(history.size()) - 1, fmt)) {
      timeline_ = pos == static_cast<int>(history.size()) - 1 && !gen_.running() ? -1 : pos;
      upload_frame(history[std::clamp(pos, 0, int(history.size()) - 1)]);
    }
    ImGui::SameLine();
    if (ImGui::Button("Live")) {
      timeline_ = -1;
      upload_frame(gen_.latest());
    }
  }

  // Export.
  ImGui::SetNextItemWidth(200 * options_.ui_scale);
  ImGui::InputText("##exportdir", &export_dir_);
  ImGui::SameLine();
  if (ImGui::Button("Save image (S)")) export_selected();
  ImGui::SameLine();
  if (ImGui::Button("Save grid")) export_grid();
  ImGui::SameLine();
  if (ImGui::Button("Sprite sheet + atlas")) export_sheet();

  // The image itself.
  if (!frame_tex_.id() || layout_.batch == 0) {
    ImGui::TextDisabled(model_.loaded() ? "Press Generate (G) to start." : "Load a model to start.");
    preview_rect_[2] = preview_rect_[3] = 0;
    return;
  }
  selected_ = std::clamp(selected_, 0, layout_.batch - 1);
  GridRect rect{0, 0, layout_.width(), layout_.height()};
  if (style_.tile3x3) rect = {layout_.cell_x(selected_), layout_.cell_y(selected_), layout_.cell_w, layout_.cell_h};
  const float repeat = style_.tile3x3 ? 3.0f : 1.0f;
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float tw = rect.w * repeat, th = rect.h * repeat;
  float scale = zoom_ > 0 ? zoom_ * options_.ui_scale : std::min(avail.x / tw, avail.y / th);
  if (zoom_ == 0 && !style_.linear && scale >= 1.0f) scale = std::floor(scale);  // crisp pixels
  scale = std::max(scale, 0.05f);
  const ImVec2 size(tw * scale, th * scale);
  const ImVec2 fb = ImGui::GetIO().DisplayFramebufferScale;
  const GLuint tex = preview_->render(frame_tex_, rect, 0, static_cast<int>(std::lround(size.x * fb.x)),
                                      static_cast<int>(std::lround(size.y * fb.y)), style_);
  ImGui::BeginChild("image", ImVec2(0, 0), false, ImGuiWindowFlags_HorizontalScrollbar);
  const ImVec2 at = ImGui::GetCursorScreenPos();
  ImGui::Image(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(tex)), size);
  preview_rect_[0] = at.x * fb.x;
  preview_rect_[1] = at.y * fb.y;
  preview_rect_[2] = size.x * fb.x;
  preview_rect_[3] = size.y * fb.y;
  if (!style_.tile3x3 && ImGui::IsItemClicked()) {  // select an image of the grid
    const ImVec2 m = ImGui::GetIO().MousePos;
    const int px = static_cast<int>((m.x - at.x) / scale), py = static_cast<int>((m.y - at.y) / scale);
    const int col = px / (layout_.cell_w + layout_.gap), row = py / (layout_.cell_h + layout_.gap);
    if (col < layout_.cols && row * layout_.cols + col < layout_.batch) selected_ = row * layout_.cols + col;
  }
  if (layout_.batch > 1 && !style_.tile3x3) {
    // Outline the selected image.
    const float cx = at.x + layout_.cell_x(selected_) * scale, cy = at.y + layout_.cell_y(selected_) * scale;
    ImGui::GetWindowDrawList()->AddRect(ImVec2(cx - 1, cy - 1),
                                        ImVec2(cx + layout_.cell_w * scale + 1, cy + layout_.cell_h * scale + 1),
                                        IM_COL32(255, 200, 40, 255), 0, 0, 2.0f);
  }
  ImGui::EndChild();
}

}  // namespace studio
