// The forward process, the x0 estimate, the posterior and Algorithm 2, against closed forms.
#include <gtest/gtest.h>

#include "ddpm/diffusion.h"

namespace {

torch::Tensor ts(std::initializer_list<int64_t> v) { return torch::tensor(std::vector<int64_t>(v)); }

TEST(Diffusion, QSampleStatisticsMatchClosedForm) {
  const auto s = ddpm::make_schedule();
  torch::manual_seed(0);
  const torch::Tensor x0 = torch::rand({1, 1, 4, 4}) * 2 - 1;
  const int64_t N = 40000;
  for (int64_t t : {10, 300, 900}) {
    const torch::Tensor eps = torch::randn({N, 1, 4, 4});
    const torch::Tensor xt = ddpm::q_sample(s, x0.expand({N, 1, 4, 4}), torch::full({N}, t, torch::kLong), eps);
    const double ab = s.alpha_bars[t].item<double>();
    const torch::Tensor mean = xt.mean(0, true), var = xt.var(0, /*unbiased=*/true, true);
    const double se = std::sqrt((1 - ab) / N);  // standard error of the mean
    EXPECT_LT((mean - std::sqrt(ab) * x0).abs().max().item<double>(), 5 * se) << "t=" << t;
    // The sample variance has relative standard error sqrt(2/N) = 0.7%.
    EXPECT_LT(((var / (1 - ab)) - 1).abs().max().item<double>(), 0.04) << "t=" << t;
  }
}

TEST(Diffusion, X0EstimateInvertsQSample) {
  const auto s = ddpm::make_schedule();
  torch::manual_seed(1);
  const torch::Tensor x0 = torch::rand({4, 3, 8, 8}) * 2 - 1;
  const torch::Tensor eps = torch::randn({4, 3, 8, 8});
  const torch::Tensor t = ts({0, 100, 600, 999});
  const torch::Tensor back = ddpm::predict_x0(s, ddpm::q_sample(s, x0, t, eps), t, eps);
  // float32 rounding of x_t is amplified by 1/sqrt(alpha_bar_999) ~ 157.
  EXPECT_LT((back - x0).abs().max().item<double>(), 1e-4);
  EXPECT_LT((back.narrow(0, 0, 3) - x0.narrow(0, 0, 3)).abs().max().item<double>(), 1e-5);
}

TEST(Diffusion, PosteriorIsTheBayesProductOfTwoGaussians) {
  const auto s = ddpm::make_schedule();
  torch::manual_seed(2);
  for (int64_t t : {1, 20, 500, 999}) {
    // beta and alpha_bar in float64 from the linear schedule's definition.
    const auto beta = [](int64_t k) { return 1e-4 + (0.02 - 1e-4) * k / 999.0; };
    double abp = 1;
    for (int64_t k = 0; k < t; ++k) abp *= 1 - beta(k);
    const double b = beta(t), a = 1 - b;
    const torch::Tensor x0 = torch::rand({1, 1, 4, 4}, torch::kFloat64) * 2 - 1;
    const torch::Tensor xt = torch::randn({1, 1, 4, 4}, torch::kFloat64);
    // Likelihood q(x_t | x_{t-1}) = N(sqrt(a) x_{t-1}, b) seen as a Gaussian in x_{t-1}:
    // precision a / b, mean x_t / sqrt(a). Prior q(x_{t-1} | x0) = N(sqrt(abp) x0, 1 - abp).
    const double precision = a / b + 1 / (1 - abp);
    const torch::Tensor mean = (std::sqrt(a) / b * xt + std::sqrt(abp) / (1 - abp) * x0) / precision;
    const torch::Tensor tt = ts({t});
    const torch::Tensor got = ddpm::posterior_mean(s, x0.to(torch::kFloat32), xt.to(torch::kFloat32), tt);
    EXPECT_LT((got.to(torch::kFloat64) - mean).abs().max().item<double>(), 1e-5) << "t=" << t;
    const double var = ddpm::reverse_variance(s, tt, ddpm::Variance::PosteriorBeta).item<double>();
    EXPECT_LT(std::abs(var * precision - 1), 1e-6) << "t=" << t;
    EXPECT_NEAR(ddpm::reverse_variance(s, tt, ddpm::Variance::Beta).item<double>(), b, 1e-9);
  }
}

TEST(Diffusion, Algorithm2EqualsPosteriorMeanOfTheX0Estimate) {
  const auto s = ddpm::make_schedule();
  torch::manual_seed(3);
  const torch::Tensor xt = torch::randn({4, 3, 8, 8});
  const torch::Tensor eps = torch::randn({4, 3, 8, 8});
  const torch::Tensor z = torch::randn({4, 3, 8, 8});
  const torch::Tensor t = ts({0, 5, 400, 999});
  for (auto v : {ddpm::Variance::Beta, ddpm::Variance::PosteriorBeta}) {
    const torch::Tensor step = ddpm::reverse_step(s, xt, t, eps, z, v);
    const torch::Tensor mean = ddpm::posterior_mean(s, ddpm::predict_x0(s, xt, t, eps), xt, t);
    const torch::Tensor noise_scale = ddpm::reverse_variance(s, t, v).sqrt() *
                                      (t != 0).to(torch::kFloat32).view({-1, 1, 1, 1});
    EXPECT_LT((step - (mean + noise_scale * z)).abs().max().item<double>(), 1e-4);
  }
  // The last step (t = 0) adds no noise whatever z is.
  const torch::Tensor t0 = ts({0});
  EXPECT_TRUE(torch::equal(ddpm::reverse_step(s, xt.narrow(0, 0, 1), t0, eps.narrow(0, 0, 1), z.narrow(0, 0, 1), ddpm::Variance::Beta),
                           ddpm::reverse_step(s, xt.narrow(0, 0, 1), t0, eps.narrow(0, 0, 1), torch::zeros({1, 3, 8, 8}), ddpm::Variance::Beta)));
}

TEST(Diffusion, VarianceNames) {
  EXPECT_EQ(ddpm::variance_from_string("beta"), ddpm::Variance::Beta);
  EXPECT_EQ(ddpm::variance_from_string("beta_tilde"), ddpm::Variance::PosteriorBeta);
  EXPECT_THROW(ddpm::variance_from_string("learned"), std::exception);
}

}  // namespace
