#include "frechet.h"

#include <algorithm>
#include <cmath>

#include "ddpm/io/error.h"

namespace quality {

Gaussian fit(const torch::Tensor& features) {
  const torch::Tensor f = features.to(torch::kFloat64);
  const torch::Tensor mu = f.mean(0);
  const torch::Tensor d = f - mu;
  return {mu, d.t().mm(d) / std::max<int64_t>(1, f.size(0) - 1)};
}

namespace {

// Square root of a symmetric positive semi-definite matrix by eigen-decomposition; round-off
// can make tiny eigenvalues negative, which are clamped to zero.
torch::Tensor sqrt_psd(const torch::Tensor& s) {
  const auto [w, v] = torch::linalg::eigh((s + s.t()) / 2, "L");
  return v.mm(torch::diag(w.clamp_min(0).sqrt())).mm(v.t());
}

}  // namespace

// tr sqrt(S1 S2) equals the last trace, but S1 S2 is not symmetric; S1^1/2 S2 S1^1/2 is
// (and positive semi-definite), so its square root comes from a symmetric eigen-decomposition
// with real eigenvalues instead of a general matrix square root.
double frechet(const Gaussian& a, const Gaussian& b) {
  const torch::Tensor r = sqrt_psd(a.cov);
  const torch::Tensor m = r.mm(b.cov).mm(r);
  const torch::Tensor ev = torch::linalg::eigvalsh((m + m.t()) / 2, "L");
  const double cross = ev.clamp_min(0).sqrt().sum().item<double>();
  return (a.mean - b.mean).pow(2).sum().item<double>() + a.cov.trace().item<double>() +
         b.cov.trace().item<double>() - 2 * cross;
}

// Commuting covariances (same eigenvectors) give sum (sqrt a_i - sqrt b_i)^2 + |m1 - m2|^2,
// and the distance is symmetric for covariances that do not commute.
void check_frechet() {
  torch::manual_seed(0);
  const int d = 6;
  const torch::Tensor q = std::get<0>(torch::linalg::qr(torch::randn({d, d}, torch::kFloat64)));
  const torch::Tensor ea = torch::rand({d}, torch::kFloat64) + 0.1, eb = torch::rand({d}, torch::kFloat64) + 0.1;
  const torch::Tensor m1 = torch::randn({d}, torch::kFloat64), m2 = torch::randn({d}, torch::kFloat64);
  const Gaussian a{m1, q.mm(torch::diag(ea)).mm(q.t())}, b{m2, q.mm(torch::diag(eb)).mm(q.t())};
  const double want = ((ea.sqrt() - eb.sqrt()).pow(2).sum() + (m1 - m2).pow(2).sum()).item<double>();
  const torch::Tensor xa = torch::randn({d, d}, torch::kFloat64), xb = torch::randn({d, d}, torch::kFloat64);
  const Gaussian c{m1, xa.mm(xa.t())}, e{m2, xb.mm(xb.t())};
  if (std::abs(frechet(a, b) - want) > 1e-9 || std::abs(frechet(c, e) - frechet(e, c)) > 1e-9 ||
      std::abs(frechet(c, c)) > 1e-9) {
    throw ddpm::Error("the Frechet distance fails its self-check");
  }
}

}  // namespace quality
