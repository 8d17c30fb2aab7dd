// ddpm convert MODEL --out OUT [--float16]: the same model with its weights stored in float16
// (half the file, for shipping) or float32.
#include <iostream>
#include <memory>
#include <string>

#include "cli_common.h"
#include "commands.h"
#include "loaded_plugin.h"

namespace ddpm_cli {
namespace {

struct ConvertOptions {
  std::string model, out;
  bool float16 = false;
};

int run_convert(const ConvertOptions& o) {
  require_file(o.model, "model");
  check(g_plugin.ddpm_convert_model(o.model.c_str(), o.float16 ? 1 : 0, o.out.c_str()), "convert");
  std::cout << o.out << "\n";
  return kExitOk;
}

}  // namespace

Command add_convert_command(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand("convert", "write a model with its weights in float16 (half the file) or float32");
  cmd->add_option("MODEL", o->model, "the model file to convert")->required();
  cmd->add_option("--out,-o", o->out, "the model file to write (.safetensors)")->required();
  cmd->add_flag("--float16", o->float16, "store the weights as float16 (default: float32)");
  return {cmd, [o] { return run_convert(*o); }};
}

}  // namespace ddpm_cli
