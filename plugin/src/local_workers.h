#pragma once
// The child processes of a local multi-process training run (ddpm_train_params.local_processes):
// ranks 1..n-1 started from the worker executable, stopped and reaped by the training job.
#include <sys/types.h>

#include <string>
#include <vector>

namespace ddpm_plugin {

// The ddpm_train_worker beside this shared library ("" when it cannot be located).
std::string default_worker_path();

// A TCP port on 127.0.0.1 that was free a moment ago (for the rendezvous of a local run).
int free_local_port();

class LocalWorkers {
 public:
  LocalWorkers() = default;
  LocalWorkers(const LocalWorkers&) = delete;
  LocalWorkers& operator=(const LocalWorkers&) = delete;
  ~LocalWorkers();  // stops (SIGTERM) and reaps whatever still runs

  // Starts `path` once per argument list; throws ddpm::Error when a process cannot be started
  // (those already started are stopped).
  void start(const std::string& path, const std::vector<std::vector<std::string>>& argv_per_worker);
  // Sends `signal` to every worker still running.
  void signal_all(int signal);
  // Waits up to timeout_ms for every worker to exit (then SIGKILL and wait). Returns "" when all
  // exited with status 0 (done) or 2 (cancelled), else a description of the first that did not,
  // e.g. "worker rank 1 (pid 123) was killed by signal 9".
  std::string reap(int timeout_ms);

 private:
  struct Child {
    pid_t pid = -1;
    int rank = 0;
    bool exited = false;
    int status = 0;  // waitpid's
  };
  bool try_reap(Child& c);  // true once exited
  std::string describe(const Child& c) const;
  bool failed(const Child& c) const;
  std::vector<Child> children_;
};

}  // namespace ddpm_plugin
