#pragma once
// Gradient averaging overlapped with backward, the way DistributedDataParallel does it: the
// trainable parameters are cut into buckets in reverse order (the order backward produces their
// gradients); a hook on each parameter copies its gradient into its bucket's flat buffer, and the
// bucket's all-reduce starts on Gloo's threads as soon as its last gradient arrived, while
// backward goes on with earlier layers. Buckets start in index order on every rank, so the
// ranks' collectives always match.
#include <torch/torch.h>

#include <vector>

#include "ddpm/distributed.h"

namespace ddpm {

class OverlappedAverage {
 public:
  // `params`: the trainable parameters (hooks are added to them until destruction).
  OverlappedAverage(ProcessGroup& group, std::vector<torch::Tensor> params,
                    int64_t bucket_bytes = 4 << 20);
  ~OverlappedAverage();
  OverlappedAverage(const OverlappedAverage&) = delete;
  OverlappedAverage& operator=(const OverlappedAverage&) = delete;

  // Before backward: the buffers are cleared (a parameter that gets no gradient counts as zero).
  void begin();
  // After backward: starts what has not started, waits for all (the group counts that time as
  // communication), and writes the mean over ranks into every parameter's .grad.
  void finish();

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    std::vector<int64_t> offsets;
    torch::Tensor flat;
    size_t arrived = 0;
    ProcessGroup::PendingSum pending;
  };
  void arrived(size_t param, const torch::Tensor& grad);
  void start_ready();  // starts complete buckets in order

  ProcessGroup& group_;
  std::vector<torch::Tensor> params_;
  std::vector<unsigned> hooks_;
  std::vector<size_t> bucket_of_, slot_of_;
  std::vector<char> got_;  // this step's gradient arrived
  std::vector<Bucket> buckets_;
  size_t next_ = 0;  // the next bucket to start
};

}  // namespace ddpm
