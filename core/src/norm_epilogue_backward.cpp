// The fused GroupNorm's backward pass for channels-last float or bfloat16 maps (training): the GELU's,
// residual's, scale's and shift's gradients and the norm's own in two passes over an image,
// where LibTorch ran up to five operations, each a pass (and, on channels-last maps, slow ones:
// tests/bench/NOTES.md).
#include <ATen/Parallel.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "norm_epilogue_kernel.h"
#include "norm_epilogue_simd.h"

namespace ddpm {
namespace {

constexpr int64_t kChunk = 64;  // pixels summed in float before the sums go to double

// Per-channel numbers of one image, each [C]: the forward's pre-activation is x * a + shift
// (+ residual, as the forward computed it: channel_affine), the normalised input x * r + q.
struct ChannelTerms {
  std::vector<float> a, shift, r, q;
  explicit ChannelTerms(int64_t C) : a(C), shift(C), r(C), q(C) {}
};

ChannelTerms channel_terms(const NormOperands& o, const NormGradients& g, int64_t b, int64_t G, int64_t Cg) {
  ChannelTerms t(o.C);
  for (int64_t c = 0; c < o.C; ++c) {
    const int64_t bg = b * G + c / Cg, bc = b * o.C + c;
    const double mean = g.mean[bg], rstd = g.rstd[bg];
    t.r[c] = static_cast<float>(rstd);
    t.q[c] = static_cast<float>(-mean * rstd);
    std::tie(t.a[c], t.shift[c]) = channel_affine(o, c, bc, mean, rstd);
  }
  return t;
}

// Pass 1 over one image: the gradient reaching the norm's affine output (dout through the
// GELU, written to dpre when there is one) and its per-channel sums, of itself (sum_dp) and
// against the normalised input (sum_dpx).
template <typename X, typename D>
DDPM_INLINE void first_pass(const NormOperands& o, const NormGradients& g, const ChannelTerms& t, int64_t b,
                            std::vector<double>& sum_dp, std::vector<double>& sum_dpx) {
  const int64_t C = o.C, first = b * o.HW * C;
  const X* x = static_cast<const X*>(o.x) + first;
  const float* res = o.residual ? o.residual + first : nullptr;
  const D* dout = static_cast<const D*>(g.dout) + first;
  float* dpre = o.gelu ? g.dpre + first : nullptr;
  for (int64_t p0 = 0; p0 < o.HW; p0 += kChunk) {
    const int64_t p1 = std::min(o.HW, p0 + kChunk);
    for (int64_t c = 0; c < C; c += kLanes) {
      const vf a = load(t.a.data() + c), sh = load(t.shift.data() + c), r = load(t.r.data() + c),
               q = load(t.q.data() + c);
      vf s1{}, s2{};
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t i = p * C + c;
        const vf xv = load(x + i);
        vf dp = load(dout + i);
        if (dpre) {
          vf pre = xv * a + sh;
          if (res) pre += load(res + i);
          dp *= gelu_derivative(pre);
          store(dpre + i, dp);
        }
        s1 += dp;
        s2 += dp * (xv * r + q);
      }
      for (int l = 0; l < kLanes; ++l) {
        sum_dp[c + l] += s1[l];
        sum_dpx[c + l] += s2[l];
      }
    }
  }
}

// Pass 2: dx = dp * u + x * v + w per channel (the norm's backward with the group's sums folded
// into v and w), in x's type.
template <typename X, typename D>
DDPM_INLINE void second_pass(const NormOperands& o, const NormGradients& g, int64_t b, const D* dp_all, const float* u,
                             const float* v, const float* w) {
  const int64_t C = o.C, first = b * o.HW * C;
  const X* x = static_cast<const X*>(o.x) + first;
  const D* dp = dp_all + first;
  X* dx = static_cast<X*>(g.dx) + first;
  for (int64_t p = 0; p < o.HW; ++p) {
    for (int64_t c = 0; c < C; c += kLanes) {
      const int64_t i = p * C + c;
      store(dx + i, load(dp + i) * load(u + c) + load(x + i) * load(v + c) + load(w + c));
    }
  }
}

// One image: both passes, its scale and shift gradients, and its share of gamma's and beta's
// (in dgamma_b and dbeta_b, [C], summed over images by the caller in a fixed order).
template <typename X, typename D>
DDPM_INLINE void image_backward(const NormOperands& o, const NormGradients& g, int64_t b, int64_t G, int64_t Cg,
                                double* dgamma_b, double* dbeta_b) {
  const int64_t C = o.C;
  const ChannelTerms t = channel_terms(o, g, b, G, Cg);
  std::vector<double> sum_dp(C, 0.0), sum_dpx(C, 0.0);
  first_pass<X, D>(o, g, t, b, sum_dp, sum_dpx);
  // y = xhat * gamma + beta, z = y * (1 + s) + shift: dz = dp, dy = dp (1 + s), dxhat = dy gamma.
  std::vector<float> u(C), v(C), w(C);
  const double n = static_cast<double>(Cg * o.HW);
  for (int64_t grp = 0; grp < G; ++grp) {
    const double rstd = g.rstd[b * G + grp], mean = g.mean[b * G + grp];
    double s_dxhat = 0, s_dxhat_xhat = 0;
    for (int64_t c = grp * Cg; c < (grp + 1) * Cg; ++c) {
      const int64_t bc = b * C + c;
      const double s = o.scale ? 1.0 + o.scale[bc] : 1.0, k = s * o.gamma[c];
      s_dxhat += k * sum_dp[c];
      s_dxhat_xhat += k * sum_dpx[c];
      if (g.dshift) g.dshift[bc] = static_cast<float>(sum_dp[c]);
      if (g.dscale) g.dscale[bc] = static_cast<float>(o.gamma[c] * sum_dpx[c] + o.beta[c] * sum_dp[c]);
      dgamma_b[c] = s * sum_dpx[c];
      dbeta_b[c] = s * sum_dp[c];
    }
    // dx = rstd (k dp - mean(dxhat) - xhat mean(dxhat xhat)), xhat = (x - mean) rstd.
    const double m1 = s_dxhat / n, m2 = s_dxhat_xhat / n;
    for (int64_t c = grp * Cg; c < (grp + 1) * Cg; ++c) {
      const double s = o.scale ? 1.0 + o.scale[b * C + c] : 1.0;
      u[c] = static_cast<float>(rstd * s * o.gamma[c]);
      v[c] = static_cast<float>(-rstd * rstd * m2);
      w[c] = static_cast<float>(-rstd * m1 + mean * rstd * rstd * m2);
    }
  }
  // The gradient at the norm's affine output: dpre where a GELU came after it, else dout.
  if (o.gelu) second_pass<X, float>(o, g, b, g.dpre, u.data(), v.data(), w.data());
  else second_pass<X, D>(o, g, b, static_cast<const D*>(g.dout), u.data(), v.data(), w.data());
}

// Images [begin, end): x and dout each float or bfloat16.
DDPM_CLONES void image_range_backward(const NormOperands& o, const NormGradients& g, int64_t G, int64_t Cg,
                                      int64_t begin, int64_t end, double* dgamma, double* dbeta) {
  for (int64_t b = begin; b < end; ++b) {
    double *dg = dgamma + b * o.C, *db = dbeta + b * o.C;
    if (o.x_bf16 && g.dout_bf16) image_backward<uint16_t, uint16_t>(o, g, b, G, Cg, dg, db);
    else if (o.x_bf16) image_backward<uint16_t, float>(o, g, b, G, Cg, dg, db);
    else if (g.dout_bf16) image_backward<float, uint16_t>(o, g, b, G, Cg, dg, db);
    else image_backward<float, float>(o, g, b, G, Cg, dg, db);
  }
}

}  // namespace

void normalize_groups_backward(const NormOperands& o, const NormGradients& g, int64_t B, int64_t G, int64_t Cg) {
  const int64_t C = o.C;
  std::vector<double> dgamma(B * C), dbeta(B * C);
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    image_range_backward(o, g, G, Cg, begin, end, dgamma.data(), dbeta.data());
  });
  for (int64_t c = 0; c < C; ++c) {
    double sg = 0, sb = 0;
    for (int64_t b = 0; b < B; ++b) {
      sg += dgamma[b * C + c];
      sb += dbeta[b * C + c];
    }
    if (g.dgamma) g.dgamma[c] = static_cast<float>(sg);
    if (g.dbeta) g.dbeta[c] = static_cast<float>(sb);
  }
}

}  // namespace ddpm
