#pragma once
// The subcommands of `ddpm`. Each add_*_command registers its subcommand and options on the
// app and returns how to run it; main() runs the one given, after loading the plugin.
#include <CLI/CLI.hpp>
#include <functional>

namespace ddpm_cli {

struct Command {
  CLI::App* app;            // the subcommand: true when it was given on the command line
  std::function<int()> run;  // returns the exit code, or throws Exit
};

Command add_info_command(CLI::App& app);
Command add_sample_command(CLI::App& app);
Command add_import_command(CLI::App& app);
Command add_blend_command(CLI::App& app);
Command add_widen_command(CLI::App& app);
Command add_convert_command(CLI::App& app);
Command add_train_command(CLI::App& app);
Command add_stream_command(CLI::App& app);

}  // namespace ddpm_cli
