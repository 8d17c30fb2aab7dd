// ddpm stream [MODEL] --frames N --out DIR|--sheet SHEET.png [--class C] [--class-at CALL:C]...:
// runs a live stream (see ddpm_stream_* in ddpm_plugin.h) for a scripted animation and writes
// its frames as PNG files and/or one sprite sheet, then reports frames per second and latency.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "ddpm/io/png.h"
#include "default_model.h"
#include "loaded_plugin.h"
#include "model.h"
#include "png_output.h"
#include "sprite_sheet.h"

namespace ddpm_cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct StreamOptions {
  std::string model, out, sheet, class_arg, sampler, seed_path = "walk", input, precision, device,
      guidance_interval;
  std::vector<std::string> class_at;  // "CALL:CLASS": from that call on, entering images get CLASS
  int frames = 16, steps = -1, period = 32, threads = 0;  // steps -1: the model's (8, or a distilled model's)
  float guidance = 3.0f, blend = 0.0f, strength = 0.5f;
  uint64_t seed = 0;
  bool apply_in_flight = false, tiling = false;
};

class StreamHandle {
 public:
  ~StreamHandle() { g_plugin.ddpm_stream_close(s); }
  ddpm_stream* s = nullptr;
};

// Parses the --class-at list into call -> class index.
std::map<int, int> class_schedule(const Model& m, const std::vector<std::string>& items) {
  std::map<int, int> out;
  for (const std::string& item : items) {
    const size_t colon = item.find(':');
    int call = 0;
    try {
      call = colon == std::string::npos ? 0 : std::stoi(item.substr(0, colon));
    } catch (...) {
      call = 0;
    }
    if (call < 1) user_error("--class-at '" + item + "' is invalid: give CALL:CLASS with CALL >= 1, e.g. 20:animals");
    out[call] = resolve_class(m, item.substr(colon + 1), "--class-at " + item + ":");
  }
  return out;
}

void push_input(ddpm_stream* s, const std::string& path) {
  require_file(path, "--input image");
  ddpm::io::Image im;
  try {
    im = ddpm::io::to_rgba(ddpm::io::read_image(path));
  } catch (const std::exception& e) {
    user_error("--input '" + path + "' cannot be read as an image: " + e.what());
  }
  check(g_plugin.ddpm_stream_push_input(s, nullptr, im.pixels.data(), im.width, im.height), "--input '" + path + "'");
}

int run_stream(const StreamOptions& o) {
  if (o.frames < 1 || o.frames > 100000) user_error("--frames " + std::to_string(o.frames) + " is out of range: allowed 1 to 100000");
  if (o.steps != -1 && o.steps < 1) user_error("--steps " + std::to_string(o.steps) + " is out of range: must be at least 1");
  if (o.out.empty() && o.sheet.empty()) user_error("give --out DIR (one PNG per frame) and/or --sheet SHEET.png");
  if (!o.out.empty()) {
    std::error_code ec;
    if (fs::exists(o.out, ec) && !fs::is_directory(o.out, ec)) user_error("--out '" + o.out + "' exists and is not a folder");
    fs::create_directories(o.out, ec);
    if (ec) user_error("cannot create the folder '" + o.out + "': " + ec.message());
  }
  if (!o.sheet.empty()) check_png_output(o.sheet, "--sheet");
  const std::map<std::string, int> paths = {{"fixed", DDPM_SEED_FIXED}, {"walk", DDPM_SEED_WALK}, {"new", DDPM_SEED_NEW}};

  Model m;
  load_model(o.model, m, o.device);
  const int class_index = resolve_class(m, o.class_arg, "--class");
  const std::map<int, int> schedule = class_schedule(m, o.class_at);
  const auto names = class_names_of(m);

  ddpm_stream_params p;
  check(g_plugin.ddpm_stream_params_init(&p, sizeof p), "default parameters");
  p.sampler_name = o.sampler.empty() ? nullptr : o.sampler.c_str();  // NULL: the model's
  p.steps = o.steps == -1 ? 0 : o.steps;  // 0 asks the plugin for the model's; the plugin checks the rest
  p.class_index = class_index;
  p.guidance = o.guidance;
  parse_guidance_interval(o.guidance_interval, p.guidance_min_sigma, p.guidance_max_sigma);
  p.seed_path = paths.at(o.seed_path);
  p.seed = o.seed;
  p.seed_period = o.period;
  p.blend = o.blend;
  p.tiling = o.tiling ? 1 : 0;
  p.threads = o.threads;
  p.image_input = o.input.empty() ? 0 : 1;
  p.strength = o.strength;
  StreamHandle stream;
  apply_precision(o.precision);
  check(g_plugin.ddpm_stream_open(m.handle, &p, &stream.s), "cannot open the stream");
  if (!o.input.empty()) push_input(stream.s, o.input);

  std::vector<ddpm::io::Image> images;
  std::vector<ddpm_host::SheetFrame> sheet_frames;
  std::vector<uint8_t> rgba(size_t(m.width) * m.height * 4);
  ddpm_stream_frame info{};
  info.struct_size = sizeof info;
  int latency = 0;
  const auto start = std::chrono::steady_clock::now();
  SigintCatcher sigint;
  for (int call = 1; int(images.size()) < o.frames; ++call) {
    if (interrupted()) throw Exit{kExitUser, "stream interrupted after " + std::to_string(images.size()) + " frames"};
    if (auto at = schedule.find(call); at != schedule.end()) {
      check(g_plugin.ddpm_stream_set_class(stream.s, at->second, o.apply_in_flight ? 1 : 0), "--class-at");
    }
    int ready = 0;
    check(g_plugin.ddpm_stream_advance(stream.s, &ready), "stream call " + std::to_string(call));
    if (!ready) continue;
    check(g_plugin.ddpm_stream_read_frame_rgba8(stream.s, rgba.data(), rgba.size(), &info), "reading a frame");
    latency = info.latency_calls;
    images.push_back(to_image(rgba.data(), m.width, m.height, m.channels));
    const std::string cls = info.class_index >= 0 ? names[info.class_index] : std::string("none");
    char name[64];
    std::snprintf(name, sizeof name, "frame_%05lld", static_cast<long long>(info.number));
    sheet_frames.push_back({name, info.class_index >= 0 ? cls : std::string(), info.seed});
    if (!o.out.empty()) {
      const std::string path = (fs::path(o.out) / (std::string(name) + ".png")).string();
      save_png(path, images.back());
      std::cout << path << " call " << info.call << " class " << cls << "\n";
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ddpm_stream_stats stats{};
  stats.struct_size = sizeof stats;
  check(g_plugin.ddpm_stream_get_stats(stream.s, &stats), "stream statistics");
  if (!o.sheet.empty()) {
    const json meta = {{"model", o.model}, {"sampler", o.sampler.empty() ? std::string("default") : o.sampler}, {"steps", p.steps},
                       {"seed_path", o.seed_path}, {"latency_calls", latency}};
    const std::string atlas = ddpm_host::write_sprite_sheet(o.sheet, images, sheet_frames, meta);
    std::cout << o.sheet << "\n" << atlas << "\n";
  }
  std::fprintf(stderr, "%d frames from %lld calls in %.2f s (%.1f calls/s), latency %d calls\n", o.frames,
               static_cast<long long>(stats.calls), seconds, double(stats.calls) / seconds, latency);
  return kExitOk;
}

}  // namespace

Command add_stream_command(CLI::App& app) {
  auto o = std::make_shared<StreamOptions>();
  auto* cmd = app.add_subcommand("stream", "run a live stream: one finished image per network call");
  cmd->add_option("MODEL", o->model, "model file (default: the bundled emoji model)");
  cmd->add_option("--frames,-n", o->frames, "frames to write (default 16)");
  cmd->add_option("--out,-o", o->out, "folder for one PNG per frame (frame_00001.png...)");
  cmd->add_option("--sheet", o->sheet, "a sprite sheet PNG of all frames, with its JSON atlas");
  cmd->add_option("--class,-c", o->class_arg, "class name or index (default: unconditional)");
  cmd->add_option("--class-at", o->class_at, "CALL:CLASS: from that call on, entering images get CLASS (repeatable)");
  cmd->add_flag("--apply-in-flight", o->apply_in_flight, "class changes also steer the images already in flight");
  cmd->add_option("--sampler", o->sampler, "dpmpp2m_sde, ddim, dpmpp2m, ddpm or euler_a (default dpmpp2m_sde; a distilled model's own)")
      ->check(CLI::IsMember(kSamplerNames));
  cmd->add_option("--steps", o->steps, "stages per image = images in flight (default 8; a distilled model's own count)");
  cmd->add_option("--threads", o->threads, "CPU threads of the stream (default 0: automatic, all cores while no other thread keeps one busy)");
  cmd->add_option("--precision", o->precision, kPrecisionHelp);
  cmd->add_option("--device", o->device, kDeviceHelp);
  cmd->add_option("--guidance,-g", o->guidance, "classifier-free guidance scale (default 3)");
  cmd->add_option("--guidance-interval", o->guidance_interval, kGuidanceIntervalHelp);
  cmd->add_option("--seed", o->seed, "seed of the seed path (default 0)");
  cmd->add_option("--seed-path", o->seed_path, "fixed, walk (a slow slerp between seeds) or new (default walk)")
      ->check(CLI::IsMember({"fixed", "walk", "new"}));
  cmd->add_option("--period", o->period, "walk: frames from one seed to the next (default 32)");
  cmd->add_option("--blend", o->blend, "0..1: blend each frame over the previous one (default 0)");
  cmd->add_option("--input", o->input, "image-to-image stream: restyle this image (PNG, resized)");
  cmd->add_option("--strength", o->strength, "with --input: fraction of the stages run, (0, 1] (default 0.5)");
  cmd->add_flag("--tiling", o->tiling, "seamless (tileable) textures");
  return {cmd, [o] {
            if (o->model.empty()) o->model = ddpm_host::default_model_path();
            return run_stream(*o);
          }};
}

}  // namespace ddpm_cli
