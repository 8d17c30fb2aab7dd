#include "packed_conv.h"

#include "ddpm/precision.h"

namespace ddpm {

torch::Tensor PackedConvWeight::packed_for(const torch::Tensor& weight, int64_t pad, bool bf16) {
  // An inference tensor has no version counter to watch: it is used as it is (float32 only).
  if (weight.is_inference() && !bf16) return weight;
  const uint32_t version = weight.is_inference() ? 0 : weight._version();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!packed_.defined() || data_ != weight.data_ptr() || version_ != version || pad_ != pad || bf16_ != bf16) {
    const torch::Tensor w = bf16 ? weight.to(torch::kBFloat16) : weight;
    packed_ = at::mkldnn_reorder_conv2d_weight(w.to_mkldnn(), {pad, pad}, {1, 1}, {1, 1}, 1);
    data_ = weight.data_ptr();
    version_ = version;
    pad_ = pad;
    bf16_ = bf16;
  }
  return packed_;
}

torch::Tensor PackedConvWeight::conv(const torch::Tensor& input, const torch::Tensor& weight, int64_t pad) {
  const bool bf16 = input.scalar_type() == torch::kBFloat16;
  if (!bf16 && inference_precision() == Precision::BFloat16) {
    return conv(input.to(torch::kBFloat16), weight, pad).to(torch::kFloat32);
  }
  if (auto out = direct_.run(input, weight, pad)) return *out;
  return at::mkldnn_convolution(input, packed_for(weight, pad, bf16), c10::nullopt, {pad, pad}, {1, 1}, {1, 1}, 1);
}

torch::Tensor onednn_conv(const torch::Tensor& input, const torch::Tensor& weight, int64_t pad) {
  const bool bf16 = input.scalar_type() == torch::kBFloat16;
  if (!bf16 && inference_precision() == Precision::BFloat16) {
    return onednn_conv(input.to(torch::kBFloat16), weight, pad).to(torch::kFloat32);
  }
  return at::mkldnn_convolution(input, bf16 ? weight.to(torch::kBFloat16) : weight, c10::nullopt, {pad, pad}, {1, 1},
                                {1, 1}, 1);
}

}  // namespace ddpm
