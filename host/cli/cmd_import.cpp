// ddpm import PT OUT [--classes a,b,c] [--image-size N] [--float16]: converts a reference
// PyTorch checkpoint to a model file.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "loaded_plugin.h"

namespace ddpm_cli {
namespace {

struct ImportOptions {
  std::string pt, out, classes;
  int image_size = 64;
  bool float16 = false;
};

// "a, b,c" -> {"a", "b", "c"}: spaces around names are dropped; empty and repeated names are
// user errors.
std::vector<std::string> parse_class_names(const std::string& classes) {
  std::vector<std::string> names;
  if (classes.empty()) return names;
  size_t start = 0;
  while (true) {
    const size_t comma = classes.find(',', start);
    std::string n = classes.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!n.empty() && n.front() == ' ') n.erase(n.begin());
    while (!n.empty() && n.back() == ' ') n.pop_back();
    if (n.empty()) user_error("--classes '" + classes + "' has an empty name");
    for (const auto& other : names) {
      if (other == n) user_error("--classes: the name '" + n + "' appears twice");
    }
    names.push_back(n);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return names;
}

int run_import(const ImportOptions& o) {
  require_file(o.pt, "checkpoint");
  const std::vector<std::string> names = parse_class_names(o.classes);
  std::vector<const char*> ptrs;
  for (const auto& n : names) ptrs.push_back(n.c_str());
  ddpm_import_params p;
  check(g_plugin.ddpm_import_params_init(&p, sizeof p), "default parameters");
  p.class_names = ptrs.empty() ? nullptr : ptrs.data();
  p.class_count = static_cast<int>(ptrs.size());
  p.image_size = o.image_size;
  p.float16 = o.float16 ? 1 : 0;
  check(g_plugin.ddpm_import_checkpoint(o.pt.c_str(), o.out.c_str(), &p), "cannot import '" + o.pt + "'");
  std::cout << o.out << "\n";
  return kExitOk;
}

}  // namespace

Command add_import_command(CLI::App& app) {
  auto o = std::make_shared<ImportOptions>();
  auto* cmd = app.add_subcommand("import", "convert a reference PyTorch checkpoint to a model file");
  cmd->add_option("PT", o->pt, "the reference .pt (state_dict of UNet or UNet_conditional)")->required();
  cmd->add_option("OUT", o->out, "the model file to write (.safetensors)")->required();
  cmd->add_option("--classes", o->classes, "comma-separated class names (default class_0, class_1, ...)");
  cmd->add_option("--image-size", o->image_size, "the size the checkpoint was trained at (default 64)");
  cmd->add_flag("--float16", o->float16, "store the weights as float16");
  return {cmd, [o] { return run_import(*o); }};
}

}  // namespace ddpm_cli
