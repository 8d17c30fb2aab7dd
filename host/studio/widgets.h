#pragma once
// Small ImGui helpers and the lists the panels share (Generate and Live offer the same
// samplers and classes).
#include <imgui.h>

#include <string>
#include <vector>

namespace studio {

inline constexpr const char* kSamplerNames[] = {"ddpm", "ddim", "dpmpp2m", "euler_a", "dpmpp2m_sde"};
inline constexpr const char* kSamplerLabels[] = {"DDPM (ancestral)", "DDIM", "DPM-Solver++ 2M",
                                                 "Euler ancestral", "DPM-Solver++ 2M SDE"};
inline constexpr int kSamplerCount = sizeof kSamplerNames / sizeof *kSamplerNames;

// The index of a sampler name in kSamplerNames, or -1.
inline int sampler_index(const std::string& name) {
  for (int i = 0; i < kSamplerCount; ++i) {
    if (name == kSamplerNames[i]) return i;
  }
  return -1;
}

// A "(?)" after the last item with `text` as its tooltip.
inline void help(const char* text) {
  ImGui::SameLine();
  ImGui::TextDisabled("(?)");
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", text);
}

// Wrapped: plugin messages name values and ranges, and must be readable whole.
inline void error_text(const std::string& s) {
  if (s.empty()) return;
  ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.45f, 0.4f, 1.0f));
  ImGui::TextWrapped("%s", s.c_str());
  ImGui::PopStyleColor();
}

// The model's class names, or "none" (-1). True when the choice changed.
inline bool class_combo(const char* label, int& choice, const std::vector<std::string>& names) {
  const bool valid = choice >= 0 && choice < static_cast<int>(names.size());
  bool changed = false;
  if (ImGui::BeginCombo(label, valid ? names[choice].c_str() : "none")) {
    if (ImGui::Selectable("none", !valid)) {
      changed = choice != -1;
      choice = -1;
    }
    for (int i = 0; i < static_cast<int>(names.size()); ++i) {
      if (ImGui::Selectable(names[i].c_str(), choice == i)) {
        changed = changed || choice != i;
        choice = i;
      }
    }
    ImGui::EndCombo();
  }
  return changed;
}

}  // namespace studio
