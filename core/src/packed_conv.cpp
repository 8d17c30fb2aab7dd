#include "packed_conv.h"

namespace ddpm {

torch::Tensor PackedConvWeight::packed_for(const torch::Tensor& weight, int64_t pad) {
  // An inference tensor has no version counter to watch: it is used as it is.
  if (weight.is_inference()) return weight;
  const uint32_t version = weight._version();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!packed_.defined() || data_ != weight.data_ptr() || version_ != version || pad_ != pad) {
    packed_ = at::mkldnn_reorder_conv2d_weight(weight.to_mkldnn(), {pad, pad}, {1, 1}, {1, 1}, 1);
    data_ = weight.data_ptr();
    version_ = version;
    pad_ = pad;
  }
  return packed_;
}

torch::Tensor PackedConvWeight::conv(const torch::Tensor& input, const torch::Tensor& weight, int64_t pad) {
  return at::mkldnn_convolution(input, packed_for(weight, pad), c10::nullopt, {pad, pad}, {1, 1}, {1, 1}, 1);
}

}  // namespace ddpm
