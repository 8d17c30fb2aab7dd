#pragma once
// Reads the files `torch.save(model.state_dict(), path)` writes, without Python and without
// executing anything: the zip layout of PyTorch >= 1.6 (data.pkl plus one record per storage)
// and the legacy stream of PyTorch < 1.6 (pickles followed by raw storages). Only a flat dict
// of name -> tensor is accepted; the pickle is read by the restricted reader of
// pickle_reader.h, which refuses every global a state_dict does not need.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ddpm/io/dtype.h"

namespace ddpm::io {

// Zip64 is not supported, so nothing larger can be read.
constexpr std::size_t kMaxCheckpointBytes = std::size_t(0xffffffff);
constexpr std::size_t kMaxCheckpointRank = 64;  // PyTorch's own limit on dimensions
// Far above any real state_dict; bounds what a small pickle that names one tensor many times
// can make this reader build.
constexpr std::size_t kMaxCheckpointTensors = 65536;

struct CheckpointTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape, stride;  // in elements, as PyTorch reports them
  std::int64_t storage_offset = 0;          // in elements
  std::string storage_key;                  // into TorchCheckpoint::storages
};

struct TorchCheckpoint {
  std::vector<CheckpointTensor> tensors;                      // in file order
  std::map<std::string, std::vector<std::uint8_t>> storages;  // key -> raw little-endian bytes
};

// Throws ddpm::Error naming `name` and the problem. Every tensor's extent (storage_offset plus
// the largest index its shape and stride reach) is checked to fit in its storage.
TorchCheckpoint parse_torch_checkpoint(const std::uint8_t* bytes, std::size_t size,
                                       const std::string& name);
TorchCheckpoint read_torch_checkpoint(const std::string& path);

}  // namespace ddpm::io
