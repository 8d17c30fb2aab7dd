// ddpm widen MODEL --out OUT [--seed N]: the model grown to twice its width, drawing the same
// images, to train further with more capacity (`ddpm train FOLDER --init OUT`).
#include <iostream>
#include <memory>
#include <string>

#include "cli_common.h"
#include "commands.h"
#include "loaded_plugin.h"

namespace ddpm_cli {
namespace {

struct WidenOptions {
  std::string model, out;
  uint64_t seed = 1;
};

int run_widen(const WidenOptions& o) {
  require_file(o.model, "model");
  check(g_plugin.ddpm_widen_model(o.model.c_str(), o.seed, o.out.c_str()), "widen");
  std::cout << o.out << "\n";
  return kExitOk;
}

}  // namespace

Command add_widen_command(CLI::App& app) {
  auto o = std::make_shared<WidenOptions>();
  auto* cmd = app.add_subcommand("widen", "grow a model to twice its width, drawing the same images, to train on");
  cmd->add_option("MODEL", o->model, "the model file to widen")->required();
  cmd->add_option("--out,-o", o->out, "the model file to write (.safetensors)")->required();
  cmd->add_option("--seed", o->seed, "draws the uneven split that lets training separate each channel's two copies");
  return {cmd, [o] { return run_widen(*o); }};
}

}  // namespace ddpm_cli
