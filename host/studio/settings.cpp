#include "settings.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <nlohmann/json.hpp>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/io/file_bytes.h"
#include "widgets.h"

namespace studio {
namespace fs = std::filesystem;

std::string default_settings_path() {
  fs::path base;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) base = x;
  else if (const char* h = std::getenv("HOME"); h && *h) base = fs::path(h) / ".config";
  else return {};
  return (base / "ddpm-studio" / "settings.json").string();
}

Settings load_settings(const std::string& path, std::string& warning) {
  Settings s;
  std::error_code ec;
  if (path.empty() || !fs::exists(path, ec)) return s;
  try {
    const auto bytes = ddpm::io::read_file(path, 1 << 20);  // a settings file is tiny
    auto j = nlohmann::json::parse(bytes.begin(), bytes.end());
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    // A file without "format" was written by a studio that saved every setting, its defaults
    // too: the Generate tab's DPM-Solver++ 2M SDE at 8 steps was the default until 2026-12-07
    // (10 since, measured better), so there it reads as "the default" and gets today's.
    if (!j.contains("format") && j.value("sampler", -1) == 4 && j.value("steps", -1) == 8) j.erase("steps");
    s.last_model = j.value("last_model", s.last_model);
    s.last_folder = j.value("last_folder", s.last_folder);
    s.last_export_dir = j.value("last_export_dir", s.last_export_dir);
    s.window_width = std::clamp(j.value("window_width", s.window_width), 320, 16384);
    s.window_height = std::clamp(j.value("window_height", s.window_height), 240, 16384);
    s.sampler = std::clamp(j.value("sampler", s.sampler), 0, kSamplerCount - 1);
    s.steps = std::clamp(j.value("steps", s.steps), 1, 1000);
    s.guidance = std::clamp(j.value("guidance", s.guidance), 0.0f, 30.0f);
    s.batch = std::clamp(j.value("batch", s.batch), 1, 64);
    s.guidance_interval = j.value("guidance_interval", s.guidance_interval);
    s.live_sampler = std::clamp(j.value("live_sampler", s.live_sampler), 0, kSamplerCount - 1);
    s.live_steps = std::clamp(j.value("live_steps", s.live_steps), 1, 256);
    s.live_seed_path = std::clamp(j.value("live_seed_path", s.live_seed_path), 0, 2);
    s.live_seed_period = std::clamp(j.value("live_seed_period", s.live_seed_period), 1, 100000);
    s.live_blend = std::clamp(j.value("live_blend", s.live_blend), 0.0f, 1.0f);
    s.live_fps = std::clamp(j.value("live_fps", s.live_fps), 0.0f, 240.0f);
    s.live_inflight = j.value("live_inflight", s.live_inflight);
  } catch (const std::exception& e) {
    warning = "settings '" + path + "' ignored: " + e.what();
    return Settings{};
  }
  return s;
}

// Only what differs from the defaults is written: a default that improves later (a step count
// measured better) then reaches everyone who never changed it.
bool save_settings(const std::string& path, const Settings& s, std::string& error) {
  if (path.empty()) return true;
  const Settings d;
  nlohmann::json j = {{"format", 2}};
  const auto put = [&](const char* key, const auto& value, const auto& default_value) {
    if (value != default_value) j[key] = value;
  };
  put("last_model", s.last_model, d.last_model);
  put("last_folder", s.last_folder, d.last_folder);
  put("last_export_dir", s.last_export_dir, d.last_export_dir);
  put("window_width", s.window_width, d.window_width);
  put("window_height", s.window_height, d.window_height);
  put("sampler", s.sampler, d.sampler);
  put("steps", s.steps, d.steps);
  put("guidance", s.guidance, d.guidance);
  put("batch", s.batch, d.batch);
  put("guidance_interval", s.guidance_interval, d.guidance_interval);
  put("live_sampler", s.live_sampler, d.live_sampler);
  put("live_steps", s.live_steps, d.live_steps);
  put("live_seed_path", s.live_seed_path, d.live_seed_path);
  put("live_seed_period", s.live_seed_period, d.live_seed_period);
  put("live_blend", s.live_blend, d.live_blend);
  put("live_fps", s.live_fps, d.live_fps);
  put("live_inflight", s.live_inflight, d.live_inflight);
  try {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    const std::string text = j.dump(2) + "\n";
    ddpm::io::write_file_atomic(path, text.data(), text.size());
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
  return true;
}

}  // namespace studio
