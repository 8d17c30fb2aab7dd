#pragma once
// The plugin this process drives: main() loads it before any command runs, and every command
// calls the C ABI through it.
#include "plugin_loader.h"

namespace ddpm_cli {

extern ddpm_host::Plugin g_plugin;  // defined in main.cpp

}  // namespace ddpm_cli
