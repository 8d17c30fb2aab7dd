// ddpm_train_worker: one rank of a local multi-process training run started by the plugin's
// training job (ddpm_train_params.local_processes). The job passes its params as
// "--name=value" arguments (plugin/src/train_args.h) plus --threads=N, and this program runs
// them through the same C ABI. It is not meant to be started by hand, but it can be:
//   ddpm_train_worker --threads=1 --assets=DIR --out-model=M --world-size=2 --rank=1 ...
// Exit status: 0 done, 2 cancelled (SIGINT/SIGTERM, or the run stopped by rank 0), 1 failed.
#include <signal.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "ddpm_plugin.h"
#include "train_args.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int g_rank = -1;

void log_line(ddpm_log_level, const char* message, void*) {
  std::fprintf(stderr, "ddpm_train_worker rank %d: %s\n", g_rank, message);
}

}  // namespace

int main(int argc, char** argv) {
#ifdef __linux__
  // A worker must not outlive the process that started it (an editor that crashed).
  prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
  const pid_t parent = getppid();
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<std::string> args;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0) {
      threads = std::atoi(a.c_str() + 10);
    } else {
      args.push_back(a);
    }
  }
  ddpm_plugin::ParsedTrainParams parsed;
  try {
    parsed = ddpm_plugin::train_params_from_args(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddpm_train_worker: %s\n", e.what());
    return 1;
  }
  g_rank = parsed.params.rank;
  // Rank 0 (in the job's process) reports progress; the workers say only what went wrong, or
  // everything with DDPM_WORKER_VERBOSE set.
  ddpm_set_log_callback(log_line, std::getenv("DDPM_WORKER_VERBOSE") ? DDPM_LOG_INFO : DDPM_LOG_WARN, nullptr);
  if (threads > 0 && ddpm_set_threads(threads) != DDPM_OK) {
    std::fprintf(stderr, "ddpm_train_worker rank %d: %s\n", g_rank, ddpm_last_error());
    return 1;
  }
  ddpm_train_job* job = nullptr;
  if (ddpm_train_start(&parsed.params, nullptr, nullptr, &job) != DDPM_OK) {
    std::fprintf(stderr, "ddpm_train_worker rank %d: %s\n", g_rank, ddpm_last_error());
    return 1;
  }
  ddpm_status status;
  while ((status = ddpm_train_wait(job, 200)) == DDPM_ERR_TIMEOUT) {
    if (g_stop || getppid() != parent) ddpm_train_cancel(job);
  }
  if (status != DDPM_OK && status != DDPM_ERR_CANCELLED) {
    std::fprintf(stderr, "ddpm_train_worker rank %d: %s\n", g_rank, ddpm_last_error());
  }
  ddpm_train_free(job);
  return status == DDPM_OK ? 0 : status == DDPM_ERR_CANCELLED ? 2 : 1;
}
