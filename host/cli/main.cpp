// ddpm: the command-line tool. Drives libddpm_plugin through its C ABI only (dlopen'ed).
//   ddpm info [MODEL] [--json]                 (MODEL: default the bundled emoji model)
//   ddpm sample [MODEL] --out DIR|FILE.png [--class C] [--count N] [--sampler S] [--steps N] ...
//   ddpm import PT OUT [--classes a,b,c] [--image-size N] [--float16]
//   ddpm blend BASE TUNED --strength S --out OUT
//   ddpm widen MODEL --out OUT [--seed N]
//   ddpm convert MODEL --out OUT [--float16]
//   ddpm train ASSETS --out MODEL [--preset P] [--size N] [--steps N] [--batch N] [--lr X] ...
//   ddpm stream [MODEL] --frames N --out DIR|--sheet S.png [--class C] [--class-at CALL:C] ...
// Exit codes: 0 ok, 1 user error (the message names the problem), 2 internal error.
// Each subcommand lives in its cmd_<name>.cpp; this file parses, loads the plugin and dispatches.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>

#include "cli_common.h"
#include "commands.h"
#include "ddpm/io/error.h"
#include "loaded_plugin.h"
#include "spawn.h"

namespace ddpm_cli {
ddpm_host::Plugin g_plugin;
}  // namespace ddpm_cli

int main(int argc, char** argv) {
  using namespace ddpm_cli;
  g_command_line.assign(argv, argv + argc);
  CLI::App app{"ddpm: train, sample and inspect DDPM models through libddpm_plugin"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ddpm tool, C ABI ") + std::to_string(DDPM_ABI_VERSION));
  const Command commands[] = {add_info_command(app), add_sample_command(app), add_import_command(app),
                              add_blend_command(app), add_widen_command(app), add_convert_command(app),
                              add_train_command(app), add_stream_command(app)};

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
    for (const Command& c : commands) {
      if (*c.app) return c.run();
    }
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
