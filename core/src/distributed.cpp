#include "ddpm/distributed.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <signal.h>
#include <time.h>

#include <chrono>

#include "ddpm/io/error.h"

namespace ddpm {
namespace {

// Gloo writes to its sockets with writev, which raises SIGPIPE when the peer has gone: the
// default action ends the process without a word (seen in CI: rank 0 gone, no message, after
// its peer was killed), and in an engine that runs a local multi-process job the engine with
// it. Threads inherit the signal mask of the thread that starts them, so the store's and
// Gloo's threads are started with SIGPIPE blocked: their writes then fail with EPIPE, which
// Gloo reports as an error and collective() names. The calling thread gets its own mask back,
// after any SIGPIPE raised on it meanwhile has been taken off.
class SigpipeBlockedForNewThreads {
 public:
  SigpipeBlockedForNewThreads() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlockedForNewThreads() {
    if (sigismember(&old_, SIGPIPE) == 1) return;  // the caller had it blocked already
    const timespec now{0, 0};
    while (sigtimedwait(&pipe_, nullptr, &now) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlockedForNewThreads(const SigpipeBlockedForNewThreads&) = delete;
  SigpipeBlockedForNewThreads& operator=(const SigpipeBlockedForNewThreads&) = delete;

 private:
  sigset_t pipe_{}, old_{};
};

// Runs a collective; c10d's failures (a peer gone, a timeout) become one clear ddpm::Error.
template <class F>
void collective(const DistributedOptions& o, const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    throw IoError("distributed training (rank " + std::to_string(o.rank) + " of " +
                std::to_string(o.world_size) + "): " + what +
                " failed: another worker stopped or did not answer within " +
                std::to_string(o.timeout_seconds) + " s (" + std::string(e.what()).substr(0, 300) + ")");
  }
}

}  // namespace

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

ProcessGroup::ProcessGroup(const DistributedOptions& o) : options_(o), impl_(std::make_unique<Impl>()) {
  o.validate();
  const auto timeout = std::chrono::milliseconds(int64_t(o.timeout_seconds) * 1000);
  const std::string join = "joining the group at " + o.master_addr + ":" + std::to_string(o.master_port);
  const SigpipeBlockedForNewThreads quiet_writes;
  collective(o, join.c_str(), [&] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.master_port);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<std::size_t>(o.world_size);
    so.waitWorkers = true;
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
    auto go = c10d::ProcessGroupGloo::Options::create();
    go->timeout = timeout;
    // Loopback runs bind to loopback; otherwise the interface that reaches this host's name.
    const bool local = o.master_addr == "127.0.0.1" || o.master_addr == "localhost";
    go->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                : c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, o.rank, o.world_size, go);
  });
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::broadcast(std::vector<torch::Tensor> tensors) {
  const auto start = std::chrono::steady_clock::now();
  collective(options_, "broadcast", [&] {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      impl_->group->broadcast(one)->wait();
    }
  });
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void ProcessGroup::average(std::vector<torch::Tensor> tensors) {
  std::vector<torch::Tensor> parts;
  for (auto& t : tensors) parts.push_back(t.reshape({-1}));
  torch::Tensor flat = torch::cat(parts);
  start_sum(flat).wait();
  flat.div_(options_.world_size);
  int64_t offset = 0;
  for (auto& t : tensors) {
    t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
    offset += t.numel();
  }
}

struct ProcessGroup::PendingSum::Impl {
  ProcessGroup* group;
  c10::intrusive_ptr<c10d::Work> work;
};

ProcessGroup::PendingSum ProcessGroup::start_sum(torch::Tensor flat) {
  PendingSum p;
  p.impl_ = std::make_shared<PendingSum::Impl>();
  p.impl_->group = this;
  collective(options_, "gradient all-reduce", [&] {
    std::vector<at::Tensor> one{std::move(flat)};
    p.impl_->work = impl_->group->allreduce(one);
  });
  return p;
}

void ProcessGroup::PendingSum::wait() {
  if (!impl_ || !impl_->work) return;
  ProcessGroup& g = *impl_->group;
  const auto start = std::chrono::steady_clock::now();
  collective(g.options_, "gradient all-reduce", [&] { impl_->work->wait(); });
  impl_->work.reset();
  g.seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void ProcessGroup::barrier() {
  collective(options_, "barrier", [&] { impl_->group->barrier()->wait(); });
}

}  // namespace ddpm
