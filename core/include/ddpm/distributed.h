#pragma once
// Data-parallel training over LibTorch's c10d: a TCPStore for the rendezvous and Gloo (TCP) for
// the collectives. The c10d headers stay in distributed.cpp; this header is all the trainer and
// the tools see.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "ddpm/distributed_options.h"

namespace ddpm {

// MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE as torchrun sets them (LOCAL_RANK is not needed
// on CPU); fields whose variable is unset keep `defaults`. Throws ddpm::Error on a malformed one.
DistributedOptions distributed_from_env(DistributedOptions defaults = {});

class ProcessGroup {
 public:
  // Joins the group (rank 0 serves the store); throws ddpm::Error when the others do not come
  // within the timeout or the address cannot be used.
  explicit ProcessGroup(const DistributedOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return options_.rank; }
  int size() const { return options_.world_size; }
  // Rank 0's values to every rank, in place.
  void broadcast(std::vector<torch::Tensor> tensors);
  // The mean over ranks of each tensor, in place, in one all-reduce (small tensors: the
  // gradients go through OverlappedAverage's buckets).
  void average(std::vector<torch::Tensor> tensors);
  void barrier();

  // A sum over ranks started without waiting (Gloo's own threads do the work), so that the
  // trainer can go on with backward; wait() finishes it in place. Every rank must start its sums
  // in the same order.
  class PendingSum {
   public:
    void wait();  // throws ddpm::IoError as the other collectives do
   private:
    friend class ProcessGroup;
    struct Impl;
    std::shared_ptr<Impl> impl_;
  };
  PendingSum start_sum(torch::Tensor flat);
  double communication_seconds() const { return seconds_; }  // spent in collectives so far

 private:
  struct Impl;
  DistributedOptions options_;
  std::unique_ptr<Impl> impl_;
  double seconds_ = 0;
};

}  // namespace ddpm
