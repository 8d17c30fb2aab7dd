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
  int sampler = 2;  // index in the sampler list
  int steps = 20;
  float guidance = 3.0f;
  int batch = 4;
};

std::string default_settings_path();  // "" when there is no home folder
// Missing or unreadable files give the defaults (a broken file is not worth refusing to start);
// `warning` says what was wrong.
Settings load_settings(const std::string& path, std::string& warning);
// Returns false and fills `error` on failure; the previous file is then untouched.
bool save_settings(const std::string& path, const Settings& s, std::string& error);

}  // namespace studio
