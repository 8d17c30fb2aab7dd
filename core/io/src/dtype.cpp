#include "ddpm/io/dtype.h"

namespace ddpm::io {
namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::F64, "F64", 8}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2}, {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
    {DType::Bool, "BOOL", 1},
};

const DTypeInfo& info(DType dtype) {
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) return d;
  }
  return kDTypes[0];  // unreachable: every enumerator is in the table
}

}  // namespace

std::size_t dtype_size(DType dtype) { return info(dtype).size; }

std::string to_string(DType dtype) { return info(dtype).name; }

bool dtype_from_string(const std::string& text, DType& out) {
  for (const auto& d : kDTypes) {
    if (text == d.name) {
      out = d.dtype;
      return true;
    }
  }
  return false;
}

}  // namespace ddpm::io
