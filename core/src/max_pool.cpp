#include "max_pool.h"

#include <ATen/Parallel.h>

#include <cmath>

namespace ddpm {

torch::Tensor max_pool_2x2(const torch::Tensor& x_in) {
  const bool loop = !torch::GradMode::is_enabled() && x_in.dim() == 4 && x_in.device().is_cpu() &&
                    x_in.scalar_type() == torch::kFloat32 && x_in.size(2) % 2 == 0 && x_in.size(3) % 2 == 0;
  if (!loop) return torch::max_pool2d(x_in, 2);
  const torch::Tensor x = x_in.contiguous();
  const int64_t rows = x.size(0) * x.size(1) * (x.size(2) / 2), W = x.size(3), w = W / 2;
  torch::Tensor out = torch::empty({x.size(0), x.size(1), x.size(2) / 2, w}, x.options());
  const float* src = x.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  // LibTorch's order and rule: the window row by row, a value replaces the maximum when it is
  // larger or NaN (so a NaN anywhere in the window is the result).
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* top = src + 2 * r * W;
      const float* bottom = top + W;
      float* o = dst + r * w;
      for (int64_t j = 0; j < w; ++j) {
        float m = top[2 * j];
        for (const float v : {top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]}) {
          if (v > m || std::isnan(v)) m = v;
        }
        o[j] = m;
      }
    }
  });
  return out;
}

}  // namespace ddpm
