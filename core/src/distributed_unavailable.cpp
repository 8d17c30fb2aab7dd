// ProcessGroup for builds without c10d's Gloo (DDPM_WITH_DISTRIBUTED=OFF, e.g. a LibTorch
// wheel whose headers lack Gloo): one-process training works, a data-parallel run is refused
// with a message instead of failing to build.
#include "ddpm/distributed.h"
#include "ddpm/io/error.h"

namespace ddpm {

struct ProcessGroup::Impl {};
struct ProcessGroup::PendingSum::Impl {};

namespace {
[[noreturn]] void unavailable() {
  throw Error("data-parallel training is not available: this build has no c10d/Gloo (DDPM_WITH_DISTRIBUTED=OFF)");
}
}  // namespace

ProcessGroup::ProcessGroup(const DistributedOptions& o) : options_(o) {
  o.validate();
  unavailable();
}
ProcessGroup::~ProcessGroup() = default;
void ProcessGroup::broadcast(std::vector<torch::Tensor>) { unavailable(); }
void ProcessGroup::average(std::vector<torch::Tensor>) { unavailable(); }
void ProcessGroup::barrier() { unavailable(); }
ProcessGroup::PendingSum ProcessGroup::start_sum(torch::Tensor) { unavailable(); }
void ProcessGroup::PendingSum::wait() { unavailable(); }

}  // namespace ddpm
