// ddpm info [MODEL] [--json]: describes a model file.
#include <iostream>
#include <memory>

#include "cli_common.h"
#include "commands.h"
#include "default_model.h"
#include "model.h"

namespace ddpm_cli {
namespace {
using json = nlohmann::json;

struct InfoOptions {
  std::string model;  // empty: the bundled default model
  bool raw = false;
};

int run_info(const std::string& path, bool raw) {
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
  if (m.info.contains("alpha_cutoff")) {
    std::cout << "alpha:      below " << m.info["alpha_cutoff"]
              << " cleared in finished images (the training images' backgrounds are clear)\n";
  }
  if (m.info.contains("samplers")) {
    std::cout << "samplers:  ";
    for (const auto& n : m.info["samplers"]) std::cout << " " << n.get<std::string>();
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

Command add_info_command(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand("info", "describe a model file");
  cmd->add_option("MODEL", o->model, "model file (.safetensors, or a reference .pt; default: the bundled emoji model)");
  cmd->add_flag("--json", o->raw, "print the raw JSON description");
  return {cmd, [o] {
            if (o->model.empty()) o->model = ddpm_host::default_model_path();
            return run_info(o->model, o->raw);
          }};
}

}  // namespace ddpm_cli
