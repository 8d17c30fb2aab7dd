#pragma once
// Where a data-parallel training run meets (torch-free: the trainer's options carry it).
#include <string>

namespace ddpm {

struct DistributedOptions {
  std::string master_addr = "127.0.0.1";  // where rank 0's TCPStore listens
  int master_port = 29500;
  int rank = 0;
  int world_size = 1;        // 1: not distributed
  int timeout_seconds = 60;  // a rank that does not answer within this is reported lost
  bool enabled() const { return world_size > 1; }
  void validate() const;     // throws ddpm::Error naming the value
};

}  // namespace ddpm
