#pragma once
// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON describing
// every tensor (dtype, shape, [begin, end) in the data section) plus optional string metadata,
// then the data section. The parser works over bytes the caller owns and copies no tensor data.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ddpm/io/dtype.h"
#include "ddpm/io/file_bytes.h"

namespace ddpm::io {

// The reference implementation refuses larger headers; so do we, before reading them.
constexpr std::size_t kMaxSafetensorsHeader = 100'000'000;
// No tensor this project handles has more dimensions; bounds what a header can ask for.
constexpr std::size_t kMaxTensorRank = 16;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::size_t begin = 0, end = 0;  // offsets into the data section
};

struct SafetensorsView {
  std::map<std::string, std::string> metadata;
  std::vector<TensorInfo> tensors;  // in data-offset order
  const std::uint8_t* data = nullptr;  // the data section, inside the caller's bytes
  std::size_t data_size = 0;

  const TensorInfo* find(const std::string& name) const;  // nullptr when absent
  const std::uint8_t* bytes_of(const TensorInfo& tensor) const { return data + tensor.begin; }
};

// Validates the whole header against `size` and throws ddpm::Error naming `name` and the
// offending field. The returned view points into `bytes`, which must outlive it.
SafetensorsView parse_safetensors(const std::uint8_t* bytes, std::size_t size,
                                  const std::string& name);

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::size_t size = 0;  // bytes at `data`; must be the product of shape times dtype_size
};

// Tensors are laid out in the given order; the header is padded with spaces to a multiple of
// 8 bytes so that the data section stays aligned. Throws ddpm::Error on inconsistent input.
std::vector<std::uint8_t> encode_safetensors(const std::vector<TensorToWrite>& tensors,
                                             const std::map<std::string, std::string>& metadata);

}  // namespace ddpm::io
