#include "local_workers.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "ddpm/io/error.h"

extern char** environ;

namespace ddpm_plugin {

std::string default_worker_path() {
  Dl_info info{};
  // Any function of this library locates it (dladdr of a hidden function still works).
  if (dladdr(reinterpret_cast<void*>(&default_worker_path), &info) == 0 || !info.dli_fname) return "";
  return (std::filesystem::path(info.dli_fname).parent_path() / "ddpm_train_worker").string();
}

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw ddpm::IoError(std::string("cannot open a socket for the rendezvous: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks a free one
  socklen_t len = sizeof addr;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int err = errno;
  close(fd);
  if (!ok) throw ddpm::IoError(std::string("cannot find a free port on 127.0.0.1: ") + std::strerror(err));
  return ntohs(addr.sin_port);
}

LocalWorkers::~LocalWorkers() {
  signal_all(SIGTERM);
  reap(5000);
}

void LocalWorkers::start(const std::string& path, const std::vector<std::vector<std::string>>& argv_per_worker) {
  for (size_t i = 0; i < argv_per_worker.size(); ++i) {
    std::vector<char*> argv{const_cast<char*>(path.c_str())};
    for (const auto& a : argv_per_worker[i]) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    // posix_spawn, not fork: the host is a multi-threaded editor or game, where a forked child
    // may only call async-signal-safe functions before exec.
    const int err = posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv.data(), environ);
    if (err != 0) {
      signal_all(SIGTERM);
      reap(5000);
      throw ddpm::IoError("cannot start the training worker '" + path + "': " + std::strerror(err));
    }
    children_.push_back({pid, static_cast<int>(i) + 1});
  }
}

void LocalWorkers::signal_all(int signal) {
  for (const auto& c : children_) {
    if (!c.exited) kill(c.pid, signal);
  }
}

std::string LocalWorkers::describe(const Child& c) const {
  const std::string who = "worker rank " + std::to_string(c.rank) + " (pid " + std::to_string(c.pid) + ")";
  if (WIFSIGNALED(c.status)) return who + " was killed by signal " + std::to_string(WTERMSIG(c.status));
  return who + " exited with status " + std::to_string(WEXITSTATUS(c.status));
}

bool LocalWorkers::try_reap(Child& c) {
  if (c.exited) return true;
  const pid_t r = waitpid(c.pid, &c.status, WNOHANG);
  // ECHILD: the host ignores SIGCHLD, so the kernel reaped it and its status is gone.
  if (r == c.pid || (r < 0 && errno == ECHILD)) {
    if (r < 0) c.status = 0;
    c.exited = true;
  }
  return c.exited;
}

bool LocalWorkers::failed(const Child& c) const {
  if (!c.exited) return false;
  if (WIFSIGNALED(c.status)) return true;
  const int code = WEXITSTATUS(c.status);
  return code != 0 && code != 2;  // 2: cancelled, as the whole run was
}

std::string LocalWorkers::reap(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool killed = false;
  for (;;) {
    bool running = false;
    for (auto& c : children_) {
      running = !try_reap(c) || running;
    }
    if (!running) break;
    if (!killed && std::chrono::steady_clock::now() >= deadline) {
      signal_all(SIGKILL);  // a worker stuck past the timeout; waitpid then returns at once
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const auto& c : children_) {
    if (failed(c)) return describe(c);
  }
  return "";
}

}  // namespace ddpm_plugin
