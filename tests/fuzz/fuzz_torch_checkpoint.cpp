// PyTorch .pt files: torch.save's zip layout (data.pkl + one record per storage) and the
// legacy stream (magic, protocol, system info, state_dict pickle, storage keys, raw storages).
#include <cstdint>

#include "ddpm/io/error.h"
#include "ddpm/io/torch_checkpoint.h"
#include "fuzz_common.h"

using namespace ddpm::io;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  TorchCheckpoint ckpt;
  try {
    ckpt = parse_torch_checkpoint(data, size, "fuzz.pt");
  } catch (const ddpm::Error&) {
    return 0;
  }
  FUZZ_CHECK(ckpt.tensors.size() <= kMaxCheckpointTensors);
  for (const auto& t : ckpt.tensors) {
    const auto it = ckpt.storages.find(t.storage_key);
    FUZZ_CHECK(it != ckpt.storages.end());
    FUZZ_CHECK(t.shape.size() == t.stride.size() && t.shape.size() <= kMaxCheckpointRank);
    // What the importer does: read every element the tensor reaches. The reader promised
    // that the furthest one lies inside the storage; walk the corners to hold it to that.
    const std::size_t esize = dtype_size(t.dtype);
    bool empty = false;
    std::uint64_t last = std::uint64_t(t.storage_offset);
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      FUZZ_CHECK(t.shape[i] >= 0 && t.stride[i] >= 0);
      if (t.shape[i] == 0) empty = true;
      else last += std::uint64_t(t.shape[i] - 1) * std::uint64_t(t.stride[i]);
    }
    if (empty) continue;
    FUZZ_CHECK((last + 1) * esize <= it->second.size());
    touch(it->second.data() + std::size_t(t.storage_offset) * esize, esize);
    touch(it->second.data() + last * esize, esize);
  }
  return 0;
}
