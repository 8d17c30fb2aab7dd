// ddpm blend BASE TUNED --strength S --out OUT: a fine-tune turned up or down after training,
// base + S x (tuned - base), without training again.
#include <iostream>
#include <memory>
#include <string>

#include "cli_common.h"
#include "commands.h"
#include "loaded_plugin.h"

namespace ddpm_cli {
namespace {

struct BlendOptions {
  std::string base, tuned, out;
  double strength = 1;
};

int run_blend(const BlendOptions& o) {
  require_file(o.base, "base model");
  require_file(o.tuned, "fine-tuned model");
  check(g_plugin.ddpm_blend_models(o.base.c_str(), o.tuned.c_str(), o.strength, o.out.c_str()), "blend");
  std::cout << o.out << "\n";
  return kExitOk;
}

}  // namespace

Command add_blend_command(CLI::App& app) {
  auto o = std::make_shared<BlendOptions>();
  auto* cmd = app.add_subcommand("blend", "blend a fine-tuned model with its base: base + S x (tuned - base)");
  cmd->add_option("BASE", o->base, "the model the fine-tune started from (its --init)")->required();
  cmd->add_option("TUNED", o->tuned, "the fine-tuned model")->required();
  cmd->add_option("--strength,-s", o->strength,
                  "S, more than 0 up to 2: 1 the fine-tune, lower keeps more of the base, above 1 extrapolates. "
                  "A `ddpm train --init` fine-tune is written at 0.85 already (through adapters): blending it at "
                  "S gives 0.85 x S, and 1/0.85 = 1.18 gives back the run's own weights")
      ->required();
  cmd->add_option("--out,-o", o->out, "the model file to write (.safetensors)")->required();
  return {cmd, [o] { return run_blend(*o); }};
}

}  // namespace ddpm_cli
