#pragma once
// What the studio remembers between runs, in a small JSON file
// ($XDG_CONFIG_HOME/ddpm-studio/settings.json, else ~/.config/...), written atomically.
#include <string>

namespace studio {

struct Settings {
  std::string last_model;
  std::string last_folder;  // training asset folder
  std::string last_export_dir;
  int window_width = 1280, window_height = 800;
  int sampler = 4;  // index in the sampler list: DPM-Solver++ 2M SDE, at 10 steps on the
                    // plugin's logsnr grid better than at 8 or 20 (tests/bench/NOTES.md)
  int steps = 10;
  float guidance = 3.0f;
  bool guidance_interval = true;  // the sampler's guidance interval (off: guidance at every step)
  int batch = 4;
  // The Live panel's pipeline and steering choices.
  // DPM-Solver++ 2M SDE at 8 stages: each slot's fresh noise comes from its seed, so a fixed
  // seed path still gives a still picture. With the default model's distilled student (one
  // network image a stage) 8 stages stream at display rate, 60 frames/s on 2 cores, and score
  // far above 4 (tests/bench/NOTES.md, "Streams at display rate": FD 1.76 against 3.69).
  int live_sampler = 4;
  int live_steps = 8;
  int live_seed_path = 1;  // walk
  int live_seed_period = 32;
  float live_blend = 0.0f;
  float live_fps = 0.0f;  // 0: as fast as possible
  bool live_inflight = false;
};

std::string default_settings_path();  // "" when there is no home folder
// Missing or unreadable files give the defaults (a broken file is not worth refusing to start);
// `warning` says what was wrong.
Settings load_settings(const std::string& path, std::string& warning);
// Writes the settings that differ from the defaults (see settings.cpp). Returns false and fills
// `error` on failure; the previous file is then untouched.
bool save_settings(const std::string& path, const Settings& s, std::string& error);

}  // namespace studio
