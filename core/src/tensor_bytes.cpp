#include "ddpm/tensor_bytes.h"

#include <cstring>

#include "ddpm/io/error.h"

namespace ddpm {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors and PyTorch storages are little-endian; this code copies raw bytes");

torch::ScalarType to_scalar_type(io::DType d) {
  switch (d) {
    case io::DType::F32: return torch::kFloat32;
    case io::DType::F16: return torch::kFloat16;
    case io::DType::BF16: return torch::kBFloat16;
    case io::DType::F64: return torch::kFloat64;
    case io::DType::I64: return torch::kInt64;
    case io::DType::I32: return torch::kInt32;
    case io::DType::I16: return torch::kInt16;
    case io::DType::I8: return torch::kInt8;
    case io::DType::U8: return torch::kUInt8;
    case io::DType::Bool: return torch::kBool;
  }
  throw Error("unsupported tensor dtype");
}

io::DType to_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return io::DType::F32;
    case torch::kFloat16: return io::DType::F16;
    case torch::kBFloat16: return io::DType::BF16;
    case torch::kFloat64: return io::DType::F64;
    case torch::kInt64: return io::DType::I64;
    case torch::kInt32: return io::DType::I32;
    case torch::kInt16: return io::DType::I16;
    case torch::kInt8: return io::DType::I8;
    case torch::kUInt8: return io::DType::U8;
    case torch::kBool: return io::DType::Bool;
    default: throw Error(std::string("tensor type ") + c10::toString(t) + " cannot be stored");
  }
}

TensorBytes::TensorBytes(std::string n, const torch::Tensor& value, torch::ScalarType stored_as)
    : name(std::move(n)), tensor(value.detach().to(torch::kCPU, stored_as).contiguous()) {}

TensorBytes::TensorBytes(std::string n, const torch::Tensor& value)
    : TensorBytes(std::move(n), value, value.scalar_type()) {}

std::vector<std::uint8_t> encode_tensors(const std::vector<TensorBytes>& tensors,
                                         const std::map<std::string, std::string>& metadata) {
  std::vector<io::TensorToWrite> out;
  out.reserve(tensors.size());
  for (const auto& t : tensors) {
    out.push_back({t.name, to_dtype(t.tensor.scalar_type()),
                   std::vector<int64_t>(t.tensor.sizes().begin(), t.tensor.sizes().end()),
                   t.tensor.data_ptr(),
                   // int64 to size_t: clang refuses the implicit narrowing in braces (gcc warns)
                   static_cast<std::size_t>(t.tensor.numel() * t.tensor.element_size())});
  }
  return io::encode_safetensors(out, metadata);
}

std::map<std::string, torch::Tensor> decode_tensors(const io::SafetensorsView& view,
                                                    const std::string& file) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& info : view.tensors) {
    const auto type = to_scalar_type(info.dtype);
    // The parser checked that [begin, end) lies inside the data and matches the shape.
    // memcpy rather than from_blob: offsets in a file need not be aligned for the type.
    torch::Tensor t = torch::empty(info.shape, torch::TensorOptions().dtype(type));
    std::memcpy(t.data_ptr(), view.data + info.begin, info.end - info.begin);
    if (type == torch::kFloat16 || type == torch::kBFloat16) t = t.to(torch::kFloat32);
    if (!out.emplace(info.name, t).second) {
      throw Error("file '" + file + "' holds tensor '" + info.name + "' twice");
    }
  }
  return out;
}

}  // namespace ddpm
