#include "spawn.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cli_common.h"

namespace ddpm_cli {

std::vector<std::string> g_command_line;

namespace {

// The command line without "--spawn N" / "--spawn=N".
std::vector<std::string> without_spawn(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--spawn") {
      ++i;
      continue;
    }
    if (args[i].rfind("--spawn=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

}  // namespace

int spawn_workers(int n, int port) {
  if (n < 1 || n > 256) user_error("--spawn " + std::to_string(n) + " is out of range: allowed 1 to 256");
  const std::vector<std::string> args = without_spawn(g_command_line);
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    const pid_t pid = fork();
    if (pid < 0) user_error(std::string("cannot start a worker: ") + std::strerror(errno));
    if (pid == 0) {
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(n).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "ddpm: cannot run worker %d: %s\n", r, std::strerror(errno));
      _exit(kExitInternal);
    }
    pids.push_back(pid);
  }
  std::fprintf(stderr, "started %d workers on 127.0.0.1:%d\n", n, port);
  int first_failure = 0, running = n;
  while (running > 0) {
    int status = 0;
    const pid_t done = waitpid(-1, &status, 0);
    if (done < 0) {
      if (errno == EINTR) continue;
      break;
    }
    --running;
    int rank = 0;
    while (rank < n && pids[rank] != done) ++rank;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0) {
      std::fprintf(stderr, "ddpm: worker %d (rank %d) %s %d\n", static_cast<int>(done), rank,
                   WIFEXITED(status) ? "exited with code" : "was killed by signal", WIFEXITED(status) ? code : WTERMSIG(status));
      if (first_failure == 0) {
        first_failure = code;
        for (int r = 0; r < n; ++r) {
          if (pids[r] != done) kill(pids[r], SIGINT);  // stop between steps, save what is saved
        }
      }
    }
  }
  return first_failure == 0 ? kExitOk : (first_failure >= 128 ? kExitInternal : first_failure);
}

}  // namespace ddpm_cli
