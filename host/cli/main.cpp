// ddpm: the command-line tool. Drives libddpm_plugin through its C ABI only (dlopen'ed).
//   ddpm info [MODEL] [--json]                 (MODEL: default the bundled emoji model)
//   ddpm sample [MODEL] --out DIR|FILE.png [--class C] [--count N] [--sampler S] [--steps N] ...
//   ddpm import PT OUT [--classes a,b,c] [--image-size N] [--float16]
//   ddpm train ASSETS --out MODEL [--preset P] [--size N] [--steps N] [--batch N] [--lr X] ...
// Exit codes: 0 ok, 1 user error (the message names the problem), 2 internal error.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ddpm/io/error.h"
#include "ddpm/io/image.h"
#include "ddpm/io/png.h"
#include "default_model.h"
#include "plugin_loader.h"
#include "sprite_sheet.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUser = 1;
constexpr int kExitInternal = 2;

// Thrown to leave a command with an exit code and a message.
struct Exit {
  int code;
  std::string message;
};

ddpm_host::Plugin g_plugin;
std::atomic<bool> g_interrupted{false};

[[noreturn]] void user_error(const std::string& message) { throw Exit{kExitUser, message}; }

// Maps a failed ABI call to an exit: the statuses a user can cause are 1, the rest 2.
void check(ddpm_status status, const std::string& what) {
  if (status == DDPM_OK) return;
  const std::string msg = what + ": " + g_plugin.ddpm_last_error() + " (" +
                          g_plugin.ddpm_status_string(status) + ")";
  switch (status) {
    case DDPM_ERR_INVALID_ARGUMENT:
    case DDPM_ERR_NOT_FOUND:
    case DDPM_ERR_IO:
    case DDPM_ERR_BAD_MODEL:
    case DDPM_ERR_OUT_OF_RANGE:
    case DDPM_ERR_CANCELLED:
      throw Exit{kExitUser, msg};
    default:
      throw Exit{kExitInternal, msg};
  }
}

void require_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (!fs::exists(st)) user_error(what + " '" + path + "' does not exist");
  if (fs::is_directory(st)) user_error(what + " '" + path + "' is a directory, not a file");
}

struct Model {
  ddpm_model* handle = nullptr;
  int width = 0, height = 0, channels = 0, num_classes = 0, timesteps = 0;
  json info;
  ~Model() {
    if (handle) g_plugin.ddpm_model_free(handle);
  }
};

void load_model(const std::string& path, Model& m) {
  require_file(path, "model file");
  check(g_plugin.ddpm_model_load(path.c_str(), &m.handle), "cannot load model '" + path + "'");
  check(g_plugin.ddpm_model_get_shape(m.handle, &m.width, &m.height, &m.channels, &m.num_classes,
                                      &m.timesteps),
        "model shape");
  char* text = nullptr;
  check(g_plugin.ddpm_model_info_json(m.handle, &text), "model description");
  try {
    m.info = json::parse(text);
  } catch (const std::exception& e) {
    g_plugin.ddpm_string_free(text);
    throw Exit{kExitInternal, std::string("the model description is not valid JSON: ") + e.what()};
  }
  g_plugin.ddpm_string_free(text);
}

std::vector<std::string> class_names_of(const Model& m) {
  std::vector<std::string> names;
  if (m.info.contains("class_names") && m.info["class_names"].is_array()) {
    for (const auto& n : m.info["class_names"]) names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
  }
  while (static_cast<int>(names.size()) < m.num_classes) names.push_back("class_" + std::to_string(names.size()));
  return names;
}

// ---- info ----------------------------------------------------------------------------------

int cmd_info(const std::string& path, bool raw) {
  Model m;
  load_model(path, m);
  if (raw) {
    std::cout << m.info.dump(2) << "\n";
    return kExitOk;
  }
  const json& u = m.info.value("unet", json::object());
  const json& s = m.info.value("schedule", json::object());
  std::cout << "model:      " << path << "\n"
            << "image:      " << m.width << "x" << m.height << ", " << m.channels << " channel"
            << (m.channels == 1 ? "" : "s") << "\n";
  if (u.contains("preset")) std::cout << "network:    " << u["preset"].get<std::string>();
  if (u.contains("base_channels")) std::cout << ", base width " << u["base_channels"];
  if (u.contains("channel_mult")) std::cout << ", channel mult " << u["channel_mult"].dump();
  std::cout << "\n";
  std::cout << "schedule:   " << s.value("kind", std::string("?")) << ", T = " << m.timesteps;
  if (m.info.contains("variance")) std::cout << ", variance " << m.info["variance"].get<std::string>();
  std::cout << "\n";
  if (m.num_classes == 0) {
    std::cout << "classes:    none (unconditional)\n";
  } else {
    std::cout << "classes:    " << m.num_classes << ":";
    const auto names = class_names_of(m);
    for (size_t i = 0; i < names.size(); ++i) std::cout << " " << i << "=" << names[i];
    std::cout << "\n";
    if (m.info.contains("guidance")) std::cout << "guidance:   " << m.info["guidance"] << " (default scale)\n";
  }
  if (m.info.contains("training_step")) std::cout << "trained:    " << m.info["training_step"] << " steps";
  if (m.info.contains("weights")) std::cout << ", " << m.info["weights"].get<std::string>() << " weights";
  std::cout << "\n";
  if (m.info.contains("samplers")) {
    std::cout << "samplers:  ";
    for (const auto& n : m.info["samplers"]) std::cout << " " << n.get<std::string>();
    std::cout << "\n";
  }
  return kExitOk;
}

// ---- sample --------------------------------------------------------------------------------

struct SampleOptions {
  std::string model, out, class_arg, sampler = "ddim", grid, sheet;
  int count = 1, steps = 25;
  float guidance = 3.0f;
  bool guidance_set = false;  // else the plugin's default
  float eta = 0.0f;
  uint64_t seed = 0;
  bool tiling = false;
};

struct Progress {
  bool tty = false;
  int last_printed = -1;
};

extern "C" void on_step(ddpm_job* job, int step, int total, const float*, int, int, int, int,
                        void* user_data) {
  auto* p = static_cast<Progress*>(user_data);
  if (g_interrupted.load()) g_plugin.ddpm_job_cancel(job);
  if (p->tty) {
    const int width = 30;
    const int filled = total > 0 ? step * width / total : width;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(width - filled), '.');
    std::fprintf(stderr, "\r[%s] %d/%d", bar.c_str(), step, total);
    if (step == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  } else if (step != p->last_printed) {
    std::fprintf(stderr, "step %d/%d\n", step, total);
    p->last_printed = step;
  }
}

extern "C" void on_sigint(int) { g_interrupted.store(true); }

int resolve_class(const Model& m, const std::string& arg) {
  if (arg.empty()) return -1;
  if (m.num_classes == 0) {
    user_error("--class '" + arg + "': the model is unconditional (it has no classes)");
  }
  const auto names = class_names_of(m);
  for (int i = 0; i < m.num_classes; ++i) {
    if (names[i] == arg) return i;
  }
  std::string known;
  for (int i = 0; i < m.num_classes; ++i) known += (i ? ", " : "") + std::to_string(i) + "=" + names[i];
  bool numeric = !arg.empty() && arg.find_first_not_of("0123456789-") == std::string::npos;
  if (numeric) {
    long v = 0;
    try {
      v = std::stol(arg);
    } catch (...) {
      user_error("--class '" + arg + "' is not a valid index; known classes: " + known);
    }
    if (v < 0 || v >= m.num_classes) {
      user_error("--class " + arg + " is out of range: allowed 0 to " +
                 std::to_string(m.num_classes - 1) + " (" + known + ")");
    }
    return static_cast<int>(v);
  }
  user_error("--class '" + arg + "' is not a class of this model; known classes: " + known);
}

bool has_png_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".png";
}

void check_png_output(const std::string& path, const std::string& option) {
  if (!has_png_extension(path)) user_error(option + " '" + path + "' must end in .png");
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    user_error(option + " '" + path + "': folder '" + parent.string() + "' does not exist");
  }
}

ddpm::io::Image to_image(const uint8_t* rgba, int w, int h, int channels) {
  // Keep the model's channels: gray stays gray, RGB drops the constant alpha.
  const int c = channels == 1 ? 1 : channels == 3 ? 3 : 4;
  ddpm::io::Image im(w, h, c);
  const size_t n = size_t(w) * h;
  for (size_t i = 0; i < n; ++i) {
    for (int k = 0; k < c; ++k) im.pixels[i * c + k] = rgba[i * 4 + k];
  }
  return im;
}

void save_png(const std::string& path, const ddpm::io::Image& im) {
  try {
    ddpm::io::write_png(path, im);
  } catch (const ddpm::Error& e) {
    user_error(std::string("cannot write '") + path + "': " + e.what());
  }
}

int cmd_sample(const SampleOptions& o) {
  // Checks that need no model first, so mistakes are reported fast.
  if (o.count < 1 || o.count > 4096) user_error("--count " + std::to_string(o.count) + " is out of range: allowed 1 to 4096");
  if (o.steps < 1) user_error("--steps " + std::to_string(o.steps) + " is out of range: must be at least 1");
  if (o.guidance_set && !(o.guidance >= 0.0f && o.guidance <= 100.0f)) {
    user_error("--guidance " + std::to_string(o.guidance) + " is out of range: allowed 0 to 100");
  }
  if (!(o.eta >= 0.0f && o.eta <= 1.0f)) user_error("--eta " + std::to_string(o.eta) + " is out of range: allowed 0 to 1");
  if (o.out.empty()) user_error("--out is required: a folder, or a FILE.png for one image");
  const bool out_is_file = has_png_extension(o.out);
  if (out_is_file) check_png_output(o.out, "--out");
  if (!o.grid.empty()) check_png_output(o.grid, "--grid");
  if (!o.sheet.empty()) check_png_output(o.sheet, "--sheet");
  if (!out_is_file) {
    std::error_code ec;
    if (fs::exists(o.out, ec) && !fs::is_directory(o.out, ec)) {
      user_error("--out '" + o.out + "' exists and is not a folder (give FILE.png for a file)");
    }
  }

  Model m;
  load_model(o.model, m);
  if (o.steps > m.timesteps) {
    user_error("--steps " + std::to_string(o.steps) + " is out of range: allowed 1 to " +
               std::to_string(m.timesteps) + " (the model's T)");
  }
  const int class_index = resolve_class(m, o.class_arg);
  const auto names = class_names_of(m);

  ddpm_generate_params p;
  check(g_plugin.ddpm_generate_default_params(&p), "default parameters");
  p.batch = o.count;
  p.class_index = class_index;
  if (o.guidance_set) p.guidance = o.guidance;
  p.sampler_name = o.sampler.c_str();
  p.steps = o.steps;
  p.eta = o.eta;
  p.seed = o.seed;
  p.preview_every = 0;  // the tool needs no frames, only the progress
  p.tiling = o.tiling ? 1 : 0;

  Progress progress;
  progress.tty = isatty(fileno(stderr)) != 0;
  ddpm_job* job = nullptr;
  std::signal(SIGINT, on_sigint);
  check(g_plugin.ddpm_generate_start(m.handle, &p, on_step, &progress, &job), "cannot start sampling");
  const ddpm_status waited = g_plugin.ddpm_job_wait(job, -1);
  std::vector<uint8_t> rgba(size_t(o.count) * m.width * m.height * 4);
  ddpm_status got = waited;
  if (waited == DDPM_OK) got = g_plugin.ddpm_job_result_rgba8(job, rgba.data(), rgba.size());
  std::signal(SIGINT, SIG_DFL);
  if (got != DDPM_OK) {
    const std::string msg = g_plugin.ddpm_last_error();
    g_plugin.ddpm_job_free(job);
    if (got == DDPM_ERR_CANCELLED) throw Exit{kExitUser, "sampling was interrupted"};
    throw Exit{got == DDPM_ERR_OUT_OF_RANGE || got == DDPM_ERR_INVALID_ARGUMENT ? kExitUser : kExitInternal,
               "sampling failed: " + msg + " (" + g_plugin.ddpm_status_string(got) + ")"};
  }
  g_plugin.ddpm_job_free(job);

  // One PNG per image.
  std::vector<ddpm::io::Image> images;
  std::vector<std::string> frame_names;
  const std::string label = class_index >= 0 ? names[class_index] : std::string("sample");
  if (!out_is_file) {
    std::error_code ec;
    fs::create_directories(o.out, ec);
    if (ec) user_error("cannot create the folder '" + o.out + "': " + ec.message());
  }
  const size_t image_bytes = size_t(m.width) * m.height * 4;
  for (int i = 0; i < o.count; ++i) {
    images.push_back(to_image(rgba.data() + i * image_bytes, m.width, m.height, m.channels));
    std::string path;
    if (out_is_file) {
      if (o.count == 1) {
        path = o.out;
      } else {
        const fs::path f(o.out);
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, "_%03d", i);
        path = (f.parent_path() / (f.stem().string() + suffix + f.extension().string())).string();
      }
    } else {
      char name[64];
      std::snprintf(name, sizeof name, "_%03d_seed%llu.png", i, static_cast<unsigned long long>(o.seed + i));
      path = (fs::path(o.out) / (label + name)).string();
    }
    save_png(path, images.back());
    frame_names.push_back(fs::path(path).stem().string());
    std::cout << path << "\n";
  }
  if (!o.grid.empty()) {
    save_png(o.grid, ddpm::io::make_grid(images, ddpm_host::grid_columns(o.count), 2));
    std::cout << o.grid << "\n";
  }
  if (!o.sheet.empty()) {
    std::vector<ddpm_host::SheetFrame> frames;
    for (int i = 0; i < o.count; ++i) {
      frames.push_back({frame_names[i], class_index >= 0 ? names[class_index] : std::string(), o.seed + i});
    }
    const json meta = {{"model", o.model}, {"sampler", o.sampler}, {"steps", o.steps}};
    const std::string atlas_path = ddpm_host::write_sprite_sheet(o.sheet, images, frames, meta);
    std::cout << o.sheet << "\n" << atlas_path << "\n";
  }
  return kExitOk;
}

// ---- import --------------------------------------------------------------------------------

int cmd_import(const std::string& pt, const std::string& out, const std::string& classes,
               int image_size, bool float16) {
  require_file(pt, "checkpoint");
  std::vector<std::string> names;
  if (!classes.empty()) {
    size_t start = 0;
    while (true) {
      const size_t comma = classes.find(',', start);
      std::string n = classes.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      while (!n.empty() && n.front() == ' ') n.erase(n.begin());
      while (!n.empty() && n.back() == ' ') n.pop_back();
      if (n.empty()) user_error("--classes '" + classes + "' has an empty name");
      for (const auto& other : names) {
        if (other == n) user_error("--classes: the name '" + n + "' appears twice");
      }
      names.push_back(n);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  std::vector<const char*> ptrs;
  for (const auto& n : names) ptrs.push_back(n.c_str());
  ddpm_import_params p;
  check(g_plugin.ddpm_import_default_params(&p), "default parameters");
  p.class_names = ptrs.empty() ? nullptr : ptrs.data();
  p.class_count = static_cast<int>(ptrs.size());
  p.image_size = image_size;
  p.float16 = float16 ? 1 : 0;
  check(g_plugin.ddpm_import_checkpoint(pt.c_str(), out.c_str(), &p), "cannot import '" + pt + "'");
  std::cout << out << "\n";
  return kExitOk;
}

// ---- train ---------------------------------------------------------------------------------

struct TrainCli {
  std::string assets, out, preset = "sprite32", init, checkpoint, samples;
  int size = 0, batch = 16;
  int64_t steps = 1000, sample_every = 0;
  double lr = 3e-4;
  uint64_t seed = 0;
  // The schedule options keep the plugin's defaults unless given: each given one is recorded
  // here and applied to the params that ddpm_train_default_params filled.
  std::vector<std::function<void(ddpm_train_params&)>> overrides;
  int threads = 0;
};

// Registers `--name` writing `field` of the params when given on the command line.
template <typename T>
void schedule_option(CLI::App* cmd, TrainCli& o, const std::string& name, T ddpm_train_params::*field,
                     const std::string& help) {
  auto value = std::make_shared<T>();
  cmd->add_option(name, *value, help)->each([&o, value, field](const std::string&) {
    o.overrides.push_back([value, field](ddpm_train_params& p) { p.*field = *value; });
  });
}

void schedule_flag(CLI::App* cmd, TrainCli& o, const std::string& name, int ddpm_train_params::*field,
                   const std::string& help) {
  cmd->add_flag_callback(name, [&o, field] {
    o.overrides.push_back([field](ddpm_train_params& p) { p.*field = 1; });
  }, help);
}

struct TrainProgressView {
  bool tty = false;
  int64_t last_printed = -1;
  double started = 0;
};

std::string format_seconds(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

extern "C" void on_train(ddpm_train_job* job, int64_t step, int64_t total, double loss, double ips,
                         double eta, const char* message, void* user_data) {
  auto* p = static_cast<TrainProgressView*>(user_data);
  if (g_interrupted.load()) g_plugin.ddpm_train_cancel(job);
  if (message) {
    std::fprintf(stderr, "%s%s\n", p->tty && p->last_printed >= 0 ? "\n" : "", message);
    if (p->tty) p->last_printed = -1;
    std::fflush(stderr);
    return;
  }
  if (p->tty) {
    const int width = 30;
    const int filled = total > 0 ? static_cast<int>(step * width / total) : width;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(width - filled), '.');
    std::fprintf(stderr, "\r[%s] %lld/%lld loss %.4f  %.1f img/s  ETA %s ", bar.c_str(),
                 static_cast<long long>(step), static_cast<long long>(total), loss, ips,
                 format_seconds(eta).c_str());
    p->last_printed = step;
    if (step == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  } else if (step != p->last_printed) {
    std::fprintf(stderr, "step %lld/%lld loss %.4f %.1f img/s eta %s\n", static_cast<long long>(step),
                 static_cast<long long>(total), loss, ips, format_seconds(eta).c_str());
    p->last_printed = step;
  }
}

int cmd_train(const TrainCli& o) {
  {
    std::error_code ec;
    if (!fs::exists(o.assets, ec)) user_error("asset folder '" + o.assets + "' does not exist");
    if (!fs::is_directory(o.assets, ec)) user_error("asset folder '" + o.assets + "' is not a folder");
  }
  if (o.out.empty()) user_error("--out is required: the model file to write");
  if (!o.init.empty()) require_file(o.init, "--init model");
  if (!o.samples.empty() && o.sample_every < 1) user_error("--samples needs --sample-every N (N >= 1)");
  if (o.size < 0) user_error("--size " + std::to_string(o.size) + " is out of range: 0 (the preset's) or more");

  ddpm_train_params p;
  check(g_plugin.ddpm_train_default_params(&p), "default parameters");
  p.assets = o.assets.c_str();
  p.preset = o.preset.c_str();
  p.image_size = o.size;
  p.init_model = o.init.empty() ? nullptr : o.init.c_str();
  p.steps = o.steps;
  p.batch = o.batch;
  p.lr = o.lr;
  p.seed = o.seed;
  p.checkpoint = o.checkpoint.empty() ? nullptr : o.checkpoint.c_str();
  p.out_model = o.out.c_str();
  p.sample_dir = o.samples.empty() ? nullptr : o.samples.c_str();
  p.sample_every = o.samples.empty() ? 0 : o.sample_every;
  for (const auto& apply : o.overrides) apply(p);
  if (o.threads < 0) user_error("--threads " + std::to_string(o.threads) + " is out of range: 0 (all cores) or more");
  if (o.threads > 0) check(g_plugin.ddpm_set_threads(o.threads), "--threads");

  TrainProgressView progress;
  progress.tty = isatty(fileno(stderr)) != 0;
  ddpm_train_job* job = nullptr;
  std::signal(SIGINT, on_sigint);
  const ddpm_status started = g_plugin.ddpm_train_start(&p, on_train, &progress, &job);
  if (started != DDPM_OK) std::signal(SIGINT, SIG_DFL);
  check(started, "cannot start training");
  // Poll so that Ctrl-C also cancels while the folder loads (before the first step).
  ddpm_status waited;
  while ((waited = g_plugin.ddpm_train_wait(job, 200)) == DDPM_ERR_TIMEOUT) {
    if (g_interrupted.load()) g_plugin.ddpm_train_cancel(job);
  }
  std::signal(SIGINT, SIG_DFL);
  const std::string msg = g_plugin.ddpm_last_error();
  g_plugin.ddpm_train_free(job);
  if (waited == DDPM_ERR_CANCELLED) {
    std::cerr << "ddpm: training interrupted: " << msg << "\n";
    std::cout << o.out << "\n";
    return kExitUser;
  }
  if (waited != DDPM_OK) {
    const bool user = waited == DDPM_ERR_INVALID_ARGUMENT || waited == DDPM_ERR_NOT_FOUND ||
                      waited == DDPM_ERR_IO || waited == DDPM_ERR_BAD_MODEL ||
                      waited == DDPM_ERR_OUT_OF_RANGE;
    throw Exit{user ? kExitUser : kExitInternal,
               "training failed: " + msg + " (" + g_plugin.ddpm_status_string(waited) + ")"};
  }
  std::cout << o.out << "\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddpm: train, sample and inspect DDPM models through libddpm_plugin"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ddpm tool, C ABI ") + std::to_string(DDPM_ABI_VERSION));

  std::string model_path;
  bool raw_json = false;
  auto* info = app.add_subcommand("info", "describe a model file");
  info->add_option("MODEL", model_path, "model file (.safetensors, or a reference .pt; default: the bundled emoji model)");
  info->add_flag("--json", raw_json, "print the raw JSON description");

  SampleOptions so;
  auto* sample = app.add_subcommand("sample", "generate images");
  sample->add_option("MODEL", so.model, "model file (default: the bundled emoji model)");
  sample->add_option("--out,-o", so.out, "output folder, or FILE.png")->required();
  sample->add_option("--class,-c", so.class_arg, "class name or index (default: unconditional)");
  sample->add_option("--count,-n", so.count, "number of images (default 1)");
  sample->add_option("--sampler", so.sampler, "ddim, dpmpp2m, ddpm or euler_a (default ddim)")
      ->check(CLI::IsMember({"ddim", "dpmpp2m", "ddpm", "euler_a"}));
  sample->add_option("--steps", so.steps, "denoising steps (default 25)");
  auto* guidance_opt =
      sample->add_option("--guidance,-g", so.guidance, "classifier-free guidance scale (default 3)");
  sample->add_option("--eta", so.eta, "DDIM eta, 0..1 (default 0)");
  sample->add_option("--seed", so.seed, "seed of the first image; image i uses seed + i (default 0)");
  sample->add_flag("--tiling", so.tiling, "seamless (tileable) textures");
  sample->add_option("--grid", so.grid, "also write all images as one grid PNG");
  sample->add_option("--sheet", so.sheet, "also write a sprite sheet PNG and its JSON atlas");

  std::string pt_path, out_path, classes;
  int image_size = 64;
  bool float16 = false;
  auto* imp = app.add_subcommand("import", "convert a reference PyTorch checkpoint to a model file");
  imp->add_option("PT", pt_path, "the reference .pt (state_dict of UNet or UNet_conditional)")->required();
  imp->add_option("OUT", out_path, "the model file to write (.safetensors)")->required();
  imp->add_option("--classes", classes, "comma-separated class names (default class_0, class_1, ...)");
  imp->add_option("--image-size", image_size, "the size the checkpoint was trained at (default 64)");
  imp->add_flag("--float16", float16, "store the weights as float16");

  TrainCli to;
  auto* train = app.add_subcommand("train", "train or fine-tune a model on an asset folder");
  train->add_option("ASSETS", to.assets, "asset folder: one subfolder of images per class")->required();
  train->add_option("--out,-o", to.out, "the model file to write (.safetensors)")->required();
  train->add_option("--preset", to.preset, "network preset of a new model (default sprite32)");
  train->add_option("--size", to.size, "image size of a new model (default: the preset's)");
  train->add_option("--steps", to.steps, "optimizer steps (default 1000)");
  train->add_option("--batch", to.batch, "batch size (default 16)");
  train->add_option("--lr", to.lr, "learning rate (default 3e-4)");
  train->add_option("--seed", to.seed, "random seed (default 0)");
  train->add_option("--init", to.init, "fine-tune this model file instead of a new model");
  train->add_option("--checkpoint", to.checkpoint, "training checkpoint, resumed when it exists");
  train->add_option("--samples", to.samples, "folder for sample grids");
  train->add_option("--sample-every", to.sample_every, "write a sample grid every N steps");
  schedule_option(train, to, "--warmup", &ddpm_train_params::warmup, "learning-rate warm-up steps (default 0)");
  schedule_option(train, to, "--decay-from", &ddpm_train_params::decay_from,
                  "fraction of the steps after which the learning rate falls linearly to 0 (default 1: constant)");
  schedule_option(train, to, "--grad-clip", &ddpm_train_params::grad_clip, "max gradient norm (default 0: off)");
  schedule_option(train, to, "--label-drop", &ddpm_train_params::label_drop,
                  "probability of training a label as 'no class' for guidance (default 0.1)");
  schedule_option(train, to, "--ema-decay", &ddpm_train_params::ema_decay, "EMA decay of the weights (default 0.995)");
  schedule_option(train, to, "--ema-start", &ddpm_train_params::ema_start,
                  "the EMA copies the weights until this step (default 2000)");
  schedule_option(train, to, "--checkpoint-every", &ddpm_train_params::checkpoint_every,
                  "steps between checkpoint writes (default 500)");
  schedule_flag(train, to, "--flip", &ddpm_train_params::flip, "random horizontal flips");
  schedule_flag(train, to, "--pixel-art", &ddpm_train_params::pixel_art, "nearest-neighbour fit, no crop");
  schedule_flag(train, to, "--freeze", &ddpm_train_params::freeze,
                "fine-tuning: train only the class embedding and the last layers");
  train->add_option("--threads", to.threads, "CPU threads (default: all cores)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ddpm: " << e.what() << "\nRun with --help for more information.\n";
    return kExitUser;
  }

  try {
    std::string error;
    if (!ddpm_host::load_plugin(g_plugin, error)) throw Exit{kExitUser, error};
    if (model_path.empty()) model_path = ddpm_host::default_model_path();
    if (so.model.empty()) so.model = ddpm_host::default_model_path();
    if (*info) return cmd_info(model_path, raw_json);
    so.guidance_set = guidance_opt->count() > 0;
    if (*sample) return cmd_sample(so);
    if (*imp) return cmd_import(pt_path, out_path, classes, image_size, float16);
    if (*train) return cmd_train(to);
    return kExitUser;
  } catch (const Exit& e) {
    std::cerr << "ddpm: " << (e.code == kExitInternal ? "internal error: " : "error: ") << e.message << "\n";
    return e.code;
  } catch (const ddpm::Error& e) {
    std::cerr << "ddpm: error: " << e.what() << "\n";
    return kExitUser;
  } catch (const std::exception& e) {
    std::cerr << "ddpm: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
}
