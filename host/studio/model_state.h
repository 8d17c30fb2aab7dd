#pragma once
// The model the studio generates with: its plugin handle and what the UI shows about it.
#include <string>
#include <utility>
#include <vector>

#include "ddpm/io/student_file.h"
#include "plugin_loader.h"

namespace studio {

// Where a model's own Live student sits (the trainer's rule, ddpm/io/student_file.h).
using ddpm::io::find_student;
using ddpm::io::student_path_for;

class ModelState {
 public:
  // `device`: where loaded models run (ddpm_model_params.device; "" the CPU).
  ModelState(const ddpm_host::Plugin& plugin, std::string device) : plugin_(plugin), device_(std::move(device)) {}
  ~ModelState();
  ModelState(const ModelState&) = delete;
  ModelState& operator=(const ModelState&) = delete;

  // Replaces the loaded model on success; on failure keeps it and returns false with `error`.
  bool load(const std::string& path, std::string& error);

  bool loaded() const { return model_ != nullptr; }
  void unload();
  ddpm_model* handle() const { return model_; }
  const std::string& path() const { return path_; }
  // Where the next load puts the model (a loaded one stays where it is until loaded again).
  const std::string& device() const { return device_; }
  void set_device(std::string device) { device_ = std::move(device); }
  int width = 0, height = 0, channels = 0, num_classes = 0, timesteps = 0;
  float default_guidance = 3.0f;
  std::vector<std::string> class_names;
  std::vector<std::string> samplers;
  std::string summary;  // one line: preset, size, parameters, training steps
  bool guidance_input = false;  // the guidance scale is an input (a distilled student)
  int distilled_steps = 0;      // > 0: step-distilled for this many steps of distilled_sampler
  std::string distilled_sampler;

  // Resolves a class given as a name or an index; -1 for "", "none" or -1. Throws nothing:
  // returns -2 and fills `error` when unknown or out of range.
  int class_from_string(const std::string& s, std::string& error) const;

 private:
  const ddpm_host::Plugin& plugin_;
  std::string device_;
  ddpm_model* model_ = nullptr;
  std::string path_;
};

}  // namespace studio
