#pragma once
// Element types shared by the safetensors and PyTorch checkpoint readers, named as safetensors
// names them. Kept apart from either format so that both can describe tensors the same way.
#include <cstddef>
#include <string>

namespace ddpm::io {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

std::size_t dtype_size(DType dtype);
std::string to_string(DType dtype);  // "F32", "BF16", "BOOL", ...
// The inverse of to_string; false for a name this project does not handle.
bool dtype_from_string(const std::string& text, DType& out);

}  // namespace ddpm::io
