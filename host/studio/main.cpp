// ddpm-studio: the interactive host. Loads libddpm_plugin through its C ABI (dlopen, exactly as
// an engine would), shows every denoising step live, and trains models.
//   ddpm-studio [--model M] [--class C] [--steps N] [--seed S] ...
//   ddpm-studio --model M --class C --steps N --seed S --frames K --screenshot out.png
//   ddpm-studio --panel live --live-frames N --class C --steps S --screenshot out.png
//   ddpm-studio --check-shaders
// Exit codes: 0 ok, 1 user error (the message says which), 2 internal, 3 scripted timeout.
#include <glad/gl.h>
// glad first: GLFW must not pull in the system GL header.
#include <GLFW/glfw3.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>
#include <imgui.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gl_util.h"
#include "plugin_loader.h"
#include "settings.h"
#include "studio.h"

namespace {

std::string g_glfw_error;
void on_glfw_error(int code, const char* text) {
  g_glfw_error = std::string(text ? text : "?") + " (GLFW error " + std::to_string(code) + ")";
}

void plugin_log(ddpm_log_level level, const char* message, void*) {
  if (level >= DDPM_LOG_WARN) std::fprintf(stderr, "ddpm-studio: plugin: %s\n", message);
}

// Compiles and links every program: the test that the shader files build on this driver.
int check_shaders() {
  const std::string dir = studio::find_shader_dir();
  if (dir.empty()) {
    std::fprintf(stderr, "ddpm-studio: cannot find the shaders/ folder (set DDPM_SHADERS)\n");
    return 1;
  }
  int failed = 0;
  for (const auto& name : studio::program_names()) {
    std::string error;
    const GLuint p = studio::load_program(dir, name, error);
    if (p) {
      std::printf("shader program %s: ok (%s)\n", name.c_str(), dir.c_str());
      glDeleteProgram(p);
    } else {
      std::fprintf(stderr, "ddpm-studio: %s\n", error.c_str());
      ++failed;
    }
  }
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddpm-studio: generate and train diffusion models with a live preview"};
  studio::StudioOptions o;
  bool shaders_only = false, no_settings = false;
  std::string settings_path = studio::default_settings_path();
  app.add_option("--model,-m", o.model, "model file (default: the last one, else the bundled emoji model)");
  app.add_option("--class,-c", o.class_arg, "class name or index (default none)");
  app.add_option("--precision", o.precision,
                 "auto (default: bf16 where the CPU has AVX512-BF16), float32 or bf16: the convolutions' number format")
      ->check(CLI::IsMember({"auto", "float32", "bf16"}));
  app.add_option("--device", o.device,
                 "where the models run: cpu (default), cuda, cuda:N, or auto (CUDA when the plugin has it and a GPU is present)");
  app.add_option("--sampler", o.sampler, "ddpm, ddim, dpmpp2m, euler_a or dpmpp2m_sde")
      ->check(CLI::IsMember({"ddpm", "ddim", "dpmpp2m", "euler_a", "dpmpp2m_sde"}));
  app.add_option("--steps", o.steps, "denoising steps")->check(CLI::Range(1, 1000));
  app.add_option("--seed", o.seed, "seed (default: a new one each run)")->check(CLI::NonNegativeNumber);
  app.add_option("--guidance,-g", o.guidance, "guidance scale (default: the model's)")->check(CLI::Range(0.0, 30.0));
  app.add_option("--batch", o.batch, "images per run")->check(CLI::Range(1, 64));
  app.add_flag("--x0", o.preview_x0, "preview the clean-image estimate instead of x_t");
  app.add_flag("--tiling", o.tiling, "seamless textures");
  app.add_option("--frames", o.frames,
                 "scripted mode: start the job at once, render at least K frames and until it ends, then exit")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--screenshot", o.screenshot, "scripted mode: write the window to this PNG (and PNG.json)");
  app.add_option("--panel", o.panel, "the panel shown first; scripted mode: the job to run (generate, train or live)")
      ->check(CLI::IsMember({"generate", "train", "live"}));
  app.add_option("--live-frames", o.live_frames,
                 "scripted Live mode: run the stream until it finished N frames (implies --panel live)")
      ->check(CLI::Range(1, 1000000));
  app.add_flag("--live-run", o.live_run,
               "scripted Live mode: the plugin's worker advances the stream (default: one call per rendered frame)");
  app.add_option("--live-fps", o.live_fps, "Live mode: target calls per second, 0 as fast as possible")
      ->check(CLI::Range(0.0, 240.0));
  app.add_option("--live-class-after", o.live_class_after, "scripted Live mode: change the class after K calls")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--live-class", o.live_class, "scripted Live mode: the class --live-class-after changes to");
  app.add_option("--live-seed-path", o.live_seed_path, "Live mode: fixed, walk or new")
      ->check(CLI::IsMember({"fixed", "walk", "new"}));
  app.add_option("--live-blend", o.live_blend, "Live mode: output blend against flicker, 0..1")
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--live-inflight", o.live_inflight, "Live mode: class and guidance changes apply to the images in flight");
  app.add_option("--train-folder", o.train_folder, "asset folder for the Train panel");
  app.add_option("--train-out", o.train_out, "model file the Train panel writes");
  app.add_option("--train-steps", o.train_steps, "training steps")->check(CLI::Range(1, 100000000));
  app.add_option("--train-minutes", o.train_minutes, "a time budget for the Train panel's run instead of steps")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--train-processes", o.train_processes, "local processes of the Train panel's run")
      ->check(CLI::Range(1, 8));
  app.add_flag("--train-finetune", o.train_finetune, "fine-tune the loaded model instead of training a new one");
  app.add_flag("--train-distill", o.train_distill,
               "distil the loaded model's Live student (into MODEL.student.safetensors unless --train-out names a file)");
  app.add_option("--init", o.init_image, "image-to-image: start from this image");
  app.add_option("--strength", o.strength, "image-to-image strength, 0..1 (default 0.75)")->check(CLI::Range(0.0, 1.0));
  app.add_flag("--inpaint-center", o.inpaint_center, "with --init: regenerate only the middle of the image");
  app.add_flag("--close-during-job", o.close_during_job, "scripted mode: close the window while the job runs");
  app.add_flag("--flat-background", o.flat_background, "preview over flat gray instead of a checkerboard");
  app.add_option("--timeout", o.timeout_seconds, "scripted mode: give up after this many seconds");
  app.add_option("--settings", settings_path, "settings file");
  app.add_flag("--no-settings", no_settings, "neither read nor write a settings file");
  app.add_flag("--check-shaders", shaders_only, "compile and link every shader program, then exit");
  CLI11_PARSE(app, argc, argv);
  if (o.live_frames > 0) {
    o.panel = "live";
    o.frames = std::max(o.frames, 1);
  }
  if (o.panel == "live" && o.frames > 0 && o.live_frames == 0) o.live_frames = 1;
  if (o.live_class_after >= 0 && o.live_class.empty()) {
    std::fprintf(stderr, "ddpm-studio: --live-class-after needs --live-class\n");
    return 1;
  }
  // Scripted runs must not depend on, or change, what a person's studio remembers.
  o.settings_path = no_settings || (o.frames > 0 && !app.count("--settings")) ? "" : settings_path;

  ddpm_host::Plugin plugin;
  std::string error;
  if (!shaders_only && !ddpm_host::load_plugin(plugin, error)) {
    std::fprintf(stderr, "ddpm-studio: %s\n", error.c_str());
    return 1;
  }
  if (plugin.handle) plugin.ddpm_set_log_callback(plugin_log, DDPM_LOG_WARN, nullptr);
  if (plugin.handle && !o.precision.empty() && plugin.ddpm_set_precision(o.precision.c_str()) != DDPM_OK) {
    std::fprintf(stderr, "ddpm-studio: --precision %s: %s\n", o.precision.c_str(), plugin.ddpm_last_error());
    return 1;
  }

  glfwSetErrorCallback(on_glfw_error);
  if (!glfwInit()) {
    std::fprintf(stderr,
                 "ddpm-studio: cannot open a window: %s\n"
                 "No display? The studio needs one (or run it under xvfb-run). Without a display use the\n"
                 "command-line tool, e.g.: ddpm sample MODEL --out out/ --class 0 --count 4\n",
                 g_glfw_error.empty() ? "no display" : g_glfw_error.c_str());
    return 1;
  }
  std::string warning;
  const studio::Settings remembered = studio::load_settings(o.settings_path, warning);
  if (!warning.empty()) std::fprintf(stderr, "ddpm-studio: %s\n", warning.c_str());
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
  glfwWindowHint(GLFW_SCALE_TO_MONITOR, GLFW_TRUE);  // high-DPI: the window grows with the scale
  if (shaders_only) glfwWindowHint(GLFW_VISIBLE, GLFW_FALSE);
  const int width = o.frames > 0 ? 1280 : remembered.window_width;
  const int height = o.frames > 0 ? 720 : remembered.window_height;
  GLFWwindow* window = glfwCreateWindow(width, height, "ddpm studio", nullptr, nullptr);
  if (!window) {
    std::fprintf(stderr, "ddpm-studio: cannot create an OpenGL 3.3 core window: %s\n", g_glfw_error.c_str());
    glfwTerminate();
    return 1;
  }
  glfwMakeContextCurrent(window);
  if (!gladLoadGL(glfwGetProcAddress)) {
    std::fprintf(stderr, "ddpm-studio: cannot load the OpenGL 3.3 functions\n");
    glfwTerminate();
    return 1;
  }
  if (shaders_only) {
    const int rc = check_shaders();
    glfwDestroyWindow(window);
    glfwTerminate();
    return rc;
  }
  glfwSwapInterval(1);

  float xscale = 1.0f, yscale = 1.0f;
  glfwGetWindowContentScale(window, &xscale, &yscale);
  o.ui_scale = std::max(1.0f, std::max(xscale, yscale));
  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // the layout is fixed; our settings file keeps what matters
  ImGui::StyleColorsDark();
  ImGui::GetStyle().ScaleAllSizes(o.ui_scale);
  io.FontGlobalScale = o.ui_scale;
  ImGui_ImplGlfw_InitForOpenGL(window, true);
  ImGui_ImplOpenGL3_Init("#version 330 core");

  int rc = 0;
  {
    studio::Studio s(window, plugin, o, remembered);
    if (!s.init(error)) {
      std::fprintf(stderr, "ddpm-studio: %s\n", error.c_str());
      rc = 1;
    } else {
      while (!glfwWindowShouldClose(window) && !s.should_close()) {
        glfwPollEvents();
        ImGui_ImplOpenGL3_NewFrame();
        ImGui_ImplGlfw_NewFrame();
        ImGui::NewFrame();
        s.frame();
        ImGui::Render();
        int fw = 0, fh = 0;
        glfwGetFramebufferSize(window, &fw, &fh);
        glViewport(0, 0, fw, fh);
        glClearColor(0.09f, 0.09f, 0.1f, 1.0f);
        glClear(GL_COLOR_BUFFER_BIT);
        ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
        s.after_render(fw, fh);
        glfwSwapBuffers(window);
      }
      s.shutdown();
      rc = s.exit_code();
    }
  }  // the jobs are freed (cancelled and joined) here, while the context still exists
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window);
  glfwTerminate();
  return rc;
}
