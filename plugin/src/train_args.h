#pragma once
// ddpm_train_params as a command line, for the worker processes of a local multi-process run
// (plugin/worker/train_worker.cpp). Both directions walk one list of fields, so a field added to
// the struct and to the list travels; torch-free, so the worker is a small C++ program.
#include <memory>
#include <string>
#include <vector>

#include "ddpm_plugin.h"

namespace ddpm_plugin {

// "--name=value" for every field a worker needs (all but struct_size, local_processes and
// worker_path); NULL strings are left out.
std::vector<std::string> train_params_to_args(const ddpm_train_params& params);

// Params parsed from such arguments, owning the strings they point to.
struct ParsedTrainParams {
  ddpm_train_params params{};
  std::vector<std::unique_ptr<std::string>> strings;
};

// Starts from ddpm_train_params_init's defaults. Throws std::invalid_argument naming an unknown
// option or a value that is not a number of the field's type.
ParsedTrainParams train_params_from_args(const std::vector<std::string>& args);

}  // namespace ddpm_plugin
