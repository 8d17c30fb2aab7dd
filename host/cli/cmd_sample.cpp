// ddpm sample [MODEL] --out DIR|FILE.png [--class C] [--count N] [--sampler S] [--steps N] ...:
// generates images and writes them as PNG files, optionally also a grid and a sprite sheet.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "default_model.h"
#include "loaded_plugin.h"
#include "model.h"
#include "png_output.h"
#include "sprite_sheet.h"

namespace ddpm_cli {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct SampleOptions {
  // Unset (empty, -1): DPM-Solver++ 2M SDE (the deterministic samplers leave speckles on the
  // default model: tests/bench/NOTES.md, quality), or for a distilled model the plugin's choice,
  // DDIM; the step count is the plugin's for the sampler (10 on the logsnr grid for DPM-Solver++
  // 2M SDE) or the distilled model's own, so the tool and every engine agree.
  std::string model, out, class_arg, sampler, grid, sheet, spacing, precision, guidance_interval, device;
  int count = 1, steps = -1, threads = 0;
  float guidance = 3.0f;
  bool guidance_set = false;  // else the plugin's default
  float eta = 0.0f;
  uint64_t seed = 0;
  bool tiling = false;
  bool no_clip = false;
  float alpha_cutoff = -1;  // the model's
};

struct Progress {
  bool tty = false;
  int last_printed = -1;
};

extern "C" void on_step(ddpm_job* job, int step, int total, const float*, int, int, int, int,
                        void* user_data) {
  auto* p = static_cast<Progress*>(user_data);
  if (interrupted()) g_plugin.ddpm_job_cancel(job);
  if (p->tty) {
    std::fprintf(stderr, "\r%s %d/%d", progress_bar(step, total).c_str(), step, total);
    if (step == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  } else if (step != p->last_printed) {
    std::fprintf(stderr, "step %d/%d\n", step, total);
    p->last_printed = step;
  }
}

// Where image i of the run goes: FILE.png (FILE_000.png... for several), or in the folder
// <class>_000_seed<seed>.png...
std::string image_path(const SampleOptions& o, bool out_is_file, const std::string& label, int i) {
  if (out_is_file) {
    if (o.count == 1) return o.out;
    const fs::path f(o.out);
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "_%03d", i);
    return (f.parent_path() / (f.stem().string() + suffix + f.extension().string())).string();
  }
  char name[64];
  std::snprintf(name, sizeof name, "_%03d_seed%llu.png", i, static_cast<unsigned long long>(o.seed + i));
  return (fs::path(o.out) / (label + name)).string();
}

int run_sample(const SampleOptions& o) {
  // Checks that need no model first, so mistakes are reported fast.
  if (o.count < 1 || o.count > 4096) user_error("--count " + std::to_string(o.count) + " is out of range: allowed 1 to 4096");
  if (o.steps != -1 && o.steps < 1) user_error("--steps " + std::to_string(o.steps) + " is out of range: must be at least 1");
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
  load_model(o.model, m, o.device);
  if (o.steps > m.timesteps) {
    user_error("--steps " + std::to_string(o.steps) + " is out of range: allowed 1 to " +
               std::to_string(m.timesteps) + " (the model's T)");
  }
  const int class_index = resolve_class(m, o.class_arg, "--class");
  const auto names = class_names_of(m);
  const bool distilled = m.info.contains("distilled") && m.info["distilled"].value("steps", 0) > 0;
  const std::string sampler = !o.sampler.empty() ? o.sampler : distilled ? "ddim" : "dpmpp2m_sde";
  const int steps = o.steps > 0 ? o.steps : 0;  // 0: the plugin's default for the sampler and model

  ddpm_generate_params p;
  check(g_plugin.ddpm_generate_params_init(&p, sizeof p), "default parameters");
  p.batch = o.count;
  p.class_index = class_index;
  if (o.guidance_set) p.guidance = o.guidance;
  parse_guidance_interval(o.guidance_interval, p.guidance_min_sigma, p.guidance_max_sigma);
  p.sampler_name = sampler.c_str();
  p.steps = steps;
  p.spacing = o.spacing.empty() ? nullptr : o.spacing.c_str();  // the plugin names a bad one
  p.eta = o.eta;
  p.seed = o.seed;
  p.preview_every = 0;  // the tool needs no frames, only the progress
  p.tiling = o.tiling ? 1 : 0;
  p.clip_x0 = o.no_clip ? 0 : 1;
  p.alpha_cutoff = o.alpha_cutoff;
  p.threads = o.threads;  // the plugin checks the range and names it

  Progress progress;
  progress.tty = stderr_is_tty();
  ddpm_job* job = nullptr;
  std::vector<uint8_t> rgba(size_t(o.count) * m.width * m.height * 4);
  ddpm_status got;
  int step = 0, steps_taken = 0;
  {
    SigintCatcher sigint;
    apply_precision(o.precision);
    check(g_plugin.ddpm_generate_start(m.handle, &p, on_step, &progress, &job), "cannot start sampling");
    got = g_plugin.ddpm_job_wait(job, -1);
    if (got == DDPM_OK) got = g_plugin.ddpm_job_result_rgba8(job, rgba.data(), rgba.size());
    // The steps the job took (the sheet records them): the plugin chose them when `steps` is 0.
    if (got == DDPM_OK) got = g_plugin.ddpm_job_poll(job, nullptr, 0, &step, &steps_taken);
  }
  if (got != DDPM_OK) {
    const std::string msg = g_plugin.ddpm_last_error();
    g_plugin.ddpm_job_free(job);
    if (got == DDPM_ERR_CANCELLED) throw Exit{kExitUser, "sampling was interrupted"};
    throw Exit{exit_code_of(got),
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
    const std::string path = image_path(o, out_is_file, label, i);
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
    const json meta = {{"model", o.model}, {"sampler", sampler}, {"steps", steps_taken}};
    const std::string atlas_path = ddpm_host::write_sprite_sheet(o.sheet, images, frames, meta);
    std::cout << o.sheet << "\n" << atlas_path << "\n";
  }
  return kExitOk;
}

}  // namespace

Command add_sample_command(CLI::App& app) {
  auto o = std::make_shared<SampleOptions>();
  auto* cmd = app.add_subcommand("sample", "generate images");
  cmd->add_option("MODEL", o->model, "model file (default: the bundled emoji model)");
  cmd->add_option("--out,-o", o->out, "output folder, or FILE.png")->required();
  cmd->add_option("--class,-c", o->class_arg, "class name or index (default: unconditional)");
  cmd->add_option("--count,-n", o->count, "number of images (default 1)");
  cmd->add_option("--sampler", o->sampler, "dpmpp2m_sde, dpmpp2m, ddim, ddpm or euler_a (default dpmpp2m_sde; ddim for a distilled model)")
      ->check(CLI::IsMember(kSamplerNames));
  cmd->add_option("--steps", o->steps,
                  "denoising steps (default: the sampler's own, 10 dpmpp2m_sde, 20 dpmpp2m, 25 ddim, 30 euler_a, "
                  "T ddpm; a distilled model's own count)");
  cmd->add_option("--spacing", o->spacing,
                  "timesteps the steps visit: trailing, logsnr, tuned, uniform or leading "
                  "(default: tuned, the noise levels searched best at 1 to 5 steps, for dpmpp2m_sde, "
                  "dpmpp2m and ddim; from 6 steps logsnr for dpmpp2m_sde, else trailing)");
  cmd->add_option("--threads", o->threads, "CPU threads of the job (default 0: automatic, all cores while no other thread keeps one busy)");
  cmd->add_option("--precision", o->precision, kPrecisionHelp);
  cmd->add_option("--device", o->device, kDeviceHelp);
  auto* guidance = cmd->add_option("--guidance,-g", o->guidance, "classifier-free guidance scale (default 3)");
  cmd->add_option("--guidance-interval", o->guidance_interval, kGuidanceIntervalHelp);
  cmd->add_option("--eta", o->eta, "DDIM eta, 0..1 (default 0)");
  cmd->add_option("--seed", o->seed, "seed of the first image; image i uses seed + i (default 0)");
  cmd->add_flag("--tiling", o->tiling, "seamless (tileable) textures");
  cmd->add_flag("--no-clip", o->no_clip, "do not clamp the clean-image estimate at each step");
  cmd->add_option("--alpha-cutoff", o->alpha_cutoff,
                  "make pixels whose alpha is below this (0..1) fully transparent; 0: none "
                  "(default: the model's, set by training where its images have transparent backgrounds)")
      ->check(CLI::Range(0.0f, 0.999f));
  cmd->add_option("--grid", o->grid, "also write all images as one grid PNG");
  cmd->add_option("--sheet", o->sheet, "also write a sprite sheet PNG and its JSON atlas");
  return {cmd, [o, guidance] {
            if (o->model.empty()) o->model = ddpm_host::default_model_path();
            o->guidance_set = guidance->count() > 0;
            return run_sample(*o);
          }};
}

}  // namespace ddpm_cli
