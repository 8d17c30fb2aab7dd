#pragma once
// `ddpm train --spawn N`: runs N local workers of the same command (this executable again, with
// RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set as torchrun would) and waits for them.
#include <string>
#include <vector>

namespace ddpm_cli {

// The command line this process was started with (set by main()).
extern std::vector<std::string> g_command_line;

// Starts n workers of g_command_line without its --spawn option, with ranks 0..n-1 on
// 127.0.0.1:port. When one fails, the others are interrupted (Ctrl-C: they stop between steps,
// rank 0 still writes its checkpoint). Returns the first failure's exit code, else 0.
int spawn_workers(int n, int port);

}  // namespace ddpm_cli
