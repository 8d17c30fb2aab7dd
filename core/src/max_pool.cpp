#include "max_pool.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "direct_conv.h"

namespace ddpm {
namespace {

// LibTorch's rule: a value replaces the maximum when it is larger or NaN.
inline float window_max(float m, float v) { return v > m || std::isnan(v) ? v : m; }

// The same on a channels-last map: each output pixel's channels from its window's four pixels,
// in LibTorch's order (row by row).
torch::Tensor max_pool_2x2_channels_last(const torch::Tensor& x) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), h = H / 2, w = W / 2;
  torch::Tensor out = torch::empty({B, C, h, w}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  const float* src = x.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, B * h, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* top = src + 2 * r * W * C;  // r = b * h + i: input rows 2i and 2i + 1 of image b
      const float* bottom = top + W * C;
      float* o = dst + r * w * C;
      for (int64_t j = 0; j < w; ++j, o += C) {
        const float *a = top + 2 * j * C, *b = a + C, *c = bottom + 2 * j * C, *d = c + C;
        for (int64_t k = 0; k < C; ++k) o[k] = window_max(window_max(window_max(a[k], b[k]), c[k]), d[k]);
      }
    }
  });
  return out;
}

}  // namespace

torch::Tensor max_pool_2x2(const torch::Tensor& x_in) {
  const bool loop = !torch::GradMode::is_enabled() && x_in.dim() == 4 && x_in.device().is_cpu() &&
                    x_in.scalar_type() == torch::kFloat32 && x_in.size(2) % 2 == 0 && x_in.size(3) % 2 == 0;
  if (!loop) return torch::max_pool2d(x_in, 2);
  if (channels_last(x_in)) return max_pool_2x2_channels_last(x_in);
  const torch::Tensor x = x_in.contiguous();
  const int64_t rows = x.size(0) * x.size(1) * (x.size(2) / 2), W = x.size(3), w = W / 2;
  torch::Tensor out = torch::empty({x.size(0), x.size(1), x.size(2) / 2, w}, x.options());
  const float* src = x.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  // LibTorch's order, the window row by row, and its rule (window_max: a NaN anywhere in the
  // window is the result).
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* top = src + 2 * r * W;
      const float* bottom = top + W;
      float* o = dst + r * w;
      for (int64_t j = 0; j < w; ++j) {
        o[j] = window_max(window_max(window_max(top[2 * j], top[2 * j + 1]), bottom[2 * j]), bottom[2 * j + 1]);
      }
    }
  });
  return out;
}

}  // namespace ddpm
