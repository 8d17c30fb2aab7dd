#include "attention.h"

#include <algorithm>
#include <cmath>

#include "fused_attention.h"

namespace ddpm {
namespace {

// Scores for one chunk of queries stay under this many floats (16 MB), so the buffers are
// reused from the allocator instead of mapping fresh pages at every step.
constexpr int64_t kScoreBudget = int64_t(4) << 20;

AttentionShape shape_of(const torch::Tensor& qkv, int64_t heads) {
  return {qkv.size(0), qkv.size(1), qkv.size(2) / 3, heads};
}

float scale_of(const AttentionShape& s) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(s.channels / s.heads)));
}

// The forward kernel on a contiguous qkv; with `lse`, also each query's log-sum-exp there.
torch::Tensor fused_forward(const torch::Tensor& packed, int64_t heads, torch::Tensor* lse) {
  const AttentionShape s = shape_of(packed, heads);
  torch::Tensor out = torch::empty({s.batch, s.tokens, s.channels}, packed.options());
  if (lse) *lse = torch::empty({s.batch, s.tokens, heads}, packed.options());
  fused_attention(s, packed.data_ptr<float>(), out.data_ptr<float>(), scale_of(s),
                  lse ? lse->data_ptr<float>() : nullptr);
  return out;
}

// The fused kernels as an autograd node: the forward keeps q, k, v, its output and each query's
// log-sum-exp (N floats per head instead of N x N probabilities).
struct FusedAttention : torch::autograd::Function<FusedAttention> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv,
                               int64_t heads) {
    const torch::Tensor packed = qkv.contiguous();
    torch::Tensor lse;
    const torch::Tensor out = fused_forward(packed, heads, &lse);
    ctx->save_for_backward({packed, out, lse});
    ctx->saved_data["heads"] = heads;
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& packed = saved[0];
    const AttentionShape s = shape_of(packed, ctx->saved_data["heads"].toInt());
    const torch::Tensor dout = grads[0].contiguous();
    torch::Tensor dqkv = torch::empty_like(packed);
    fused_attention_backward(s, packed.data_ptr<float>(), saved[1].data_ptr<float>(),
                             saved[2].data_ptr<float>(), dout.data_ptr<float>(),
                             dqkv.data_ptr<float>(), scale_of(s));
    return {dqkv, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor library_attention(const torch::Tensor& qkv, int64_t heads) {
  const AttentionShape sh = shape_of(qkv, heads);
  const int64_t B = sh.batch, N = sh.tokens, C = sh.channels, h = heads, d = C / h;
  // [B, N, C] -> [B*h, N, d]
  const auto heads_of = [&](int64_t i) {
    return qkv.narrow(2, i * C, C).view({B, N, h, d}).transpose(1, 2).reshape({B * h, N, d});
  };
  const torch::Tensor q = heads_of(0) * scale_of(sh);
  const torch::Tensor k_t = heads_of(1).transpose(1, 2);
  const torch::Tensor v = heads_of(2);

  torch::Tensor out;
  const int64_t rows = std::max<int64_t>(1, kScoreBudget / (B * h * N));
  if (torch::GradMode::is_enabled() || rows >= N) {
    out = torch::bmm(torch::softmax(torch::bmm(q, k_t), -1), v);
  } else {
    out = torch::empty({B * h, N, d}, qkv.options());
    for (int64_t start = 0; start < N; start += rows) {
      const int64_t n = std::min(rows, N - start);
      const torch::Tensor scores = torch::softmax(torch::bmm(q.narrow(1, start, n), k_t), -1);
      out.narrow(1, start, n).copy_(torch::bmm(scores, v));
    }
  }
  return out.view({B, h, N, d}).transpose(1, 2).reshape({B, N, C});
}

torch::Tensor packed_attention(const torch::Tensor& qkv, int64_t heads) {
  const AttentionShape s = shape_of(qkv, heads);
  if (!qkv.device().is_cpu() || qkv.scalar_type() != torch::kFloat ||
      !fused_attention_supports(s.channels / heads)) {
    return library_attention(qkv, heads);
  }
  if (torch::GradMode::is_enabled() && qkv.requires_grad()) return FusedAttention::apply(qkv, heads);
  // The kernels hold 16-float vectors (32 registers' worth for a block): with AVX-512 they beat
  // the library (51% of the sgemm peak against 22%), but on an AVX2-only AMD EPYC they ran at
  // 5.4 GFLOP/s a thread, 10.7 on two, against 35 for the library's products at seed64's 64x64
  // layer (tests/bench/NOTES.md). Without AVX-512, inference takes the library path.
  static const bool has_avx512 = __builtin_cpu_supports("avx512f");
  if (!has_avx512) return library_attention(qkv, heads);
  return fused_forward(qkv.contiguous(), heads, nullptr);
}

}  // namespace ddpm
