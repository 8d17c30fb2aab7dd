#include "ddpm/io/atomic_file.h"

#include <dirent.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>

#include "ddpm/io/error.h"

namespace ddpm::io {
namespace {

std::string errno_text() { return std::strerror(errno); }

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

constexpr const char* kTmpInfix = ".tmp.";

// "<digits>.<digits>" -> the first number, the writer's process id; 0 when it does not parse.
long tmp_owner(const char* suffix) {
  const char* p = suffix;
  long pid = 0;
  if (*p < '0' || *p > '9') return 0;
  while (*p >= '0' && *p <= '9') {
    if (pid > 100'000'000) return 0;
    pid = pid * 10 + (*p++ - '0');
  }
  if (*p++ != '.' || *p < '0' || *p > '9') return 0;
  while (*p >= '0' && *p <= '9') ++p;
  return *p == '\0' ? pid : 0;
}

// A writer killed between creating its temporary and renaming it (SIGKILL, power loss)
// leaves "<name>.tmp.<pid>.<n>" behind. The first write of a path in a process removes those
// of that path whose writer no longer runs; temporaries of live writers, including other
// threads of this process, are left alone. Best effort: failures are ignored.
void remove_stale_temporaries(const std::string& path) {
  static std::mutex mutex;
  static std::set<std::string> done;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!done.insert(path).second) return;
  }
  const std::string folder = folder_of(path);
  const std::string prefix = base_of(path) + kTmpInfix;
  DIR* dir = ::opendir(folder.c_str());
  if (!dir) return;
  const long self = static_cast<long>(::getpid());
  while (const dirent* e = ::readdir(dir)) {
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) != 0) continue;
    const long pid = tmp_owner(e->d_name + prefix.size());
    if (pid <= 0 || pid == self) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // still running
    ::unlinkat(::dirfd(dir), e->d_name, 0);
  }
  ::closedir(dir);
}

}  // namespace

void check_output_path(const std::string& path, const std::string& what) {
  const std::string start = "cannot write the " + what + " '" + path + "': ";
  if (path.empty()) throw Error("the " + what + " path is empty");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) throw Error(start + "it is a folder; give a file name");
  const std::string folder = folder_of(path);
  if (::stat(folder.c_str(), &st) != 0) throw Error(start + "folder '" + folder + "' does not exist");
  if (!S_ISDIR(st.st_mode)) throw Error(start + "'" + folder + "' is not a folder");
  if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    throw Error(start + "folder '" + folder + "' is not writable (" + errno_text() + ")");
  }
}

void write_file_atomic(const std::string& path, const void* data, std::size_t size) {
  if (path.empty()) throw Error("cannot write a file with an empty path");
  remove_stale_temporaries(path);
  // Unique per process and call, so concurrent writers never share a temporary.
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + kTmpInfix + std::to_string(::getpid()) + "." +
                          std::to_string(counter.fetch_add(1));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error("cannot write '" + path + "': " + errno_text() + " (folder '" + folder_of(path) +
                "')");
  }
  const auto* p = static_cast<const char*>(data);
  std::size_t left = size;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n == 0 ? "no progress" : errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error("cannot write '" + path + "': " + why + " after " +
                  std::to_string(size - left) + " of " + std::to_string(size) + " bytes");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  // Both calls run whatever the first one returns: a failed fsync must not leak the descriptor.
  const bool synced = ::fsync(fd) == 0;
  const std::string sync_error = synced ? std::string() : errno_text();
  const bool closed = ::close(fd) == 0;
  if (!synced || !closed) {
    const std::string why = synced ? errno_text() : sync_error;
    ::unlink(tmp.c_str());
    throw Error("cannot flush '" + path + "': " + why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw Error("cannot replace '" + path + "': " + why);
  }
  // Make the rename itself durable.
  const int dir = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace ddpm::io
