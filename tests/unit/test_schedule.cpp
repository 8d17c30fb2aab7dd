// Noise schedules against closed forms computed independently in float64.
#include <gtest/gtest.h>

#include <cmath>

#include "ddpm/io/error.h"
#include "ddpm/schedule.h"

namespace {

double at(const torch::Tensor& t, int64_t i) { return t[i].item<double>(); }

TEST(Schedule, LinearEndpointsAndAlphaBar) {
  const auto s = ddpm::make_schedule();
  ASSERT_EQ(s.timesteps(), 1000);
  EXPECT_NEAR(at(s.betas, 0), 1e-4, 1e-9);
  EXPECT_NEAR(at(s.betas, 999), 0.02, 1e-9);
  // alpha_bar_999 = prod (1 - beta_t): the sum of logs in float64, then exp.
  double log_ab = 0;
  for (int t = 0; t < 1000; ++t) log_ab += std::log1p(-(1e-4 + (0.02 - 1e-4) * t / 999.0));
  EXPECT_NEAR(at(s.alpha_bars, 999) / std::exp(log_ab), 1.0, 1e-5);
  EXPECT_NEAR(at(s.alpha_bars, 999), 4.04e-5, 0.01e-5);  // the figure
  EXPECT_NEAR(at(s.alpha_bars, 0), 1 - 1e-4, 1e-7);  // float32 storage
}

TEST(Schedule, Monotone) {
  for (auto kind : {ddpm::ScheduleKind::Linear, ddpm::ScheduleKind::Cosine}) {
    ddpm::ScheduleConfig c;
    c.kind = kind;
    const auto s = ddpm::make_schedule(c);
    EXPECT_TRUE((s.alpha_bars.slice(0, 1) < s.alpha_bars.slice(0, 0, -1)).all().item<bool>());
    EXPECT_TRUE((s.betas.slice(0, 1) >= s.betas.slice(0, 0, -1)).all().item<bool>());
    // beta_tilde <= beta, and 0 at t = 0 (alpha_bar_{-1} = 1).
    EXPECT_TRUE((s.posterior_variance <= s.betas + 1e-9).all().item<bool>());
    EXPECT_EQ(at(s.posterior_variance, 0), 0.0);
  }
}

TEST(Schedule, CosineMatchesImprovedDdpmClosedForm) {
  ddpm::ScheduleConfig c;
  c.kind = ddpm::ScheduleKind::Cosine;
  const auto s = ddpm::make_schedule(c);
  const auto f = [](double t) {
    const double v = std::cos((t / 1000 + 0.008) / 1.008 * M_PI / 2);
    return v * v;
  };
  for (int t : {0, 10, 250, 500, 900}) {
    EXPECT_NEAR(at(s.alpha_bars, t), f(t + 1) / f(0), 1e-6) << "t=" << t;
  }
  EXPECT_GT(at(s.alpha_bars, 0), 0.9999);
  EXPECT_LT(at(s.alpha_bars, 999), 1e-7);
  EXPECT_NEAR(at(s.betas, 999), 0.999, 1e-6);  // the clip at the singular end
}

// The linear schedule's beta and alpha_bar in float64, independently of the library.
double linear_beta(int t) { return 1e-4 + (0.02 - 1e-4) * t / 999.0; }
double linear_alpha_bar(int t) {
  double ab = 1;
  for (int s = 0; s <= t; ++s) ab *= 1 - linear_beta(s);
  return ab;
}

TEST(Schedule, PosteriorCoefficientsClosedForm) {
  const auto s = ddpm::make_schedule();
  for (int t : {1, 50, 500, 999}) {
    const double b = linear_beta(t), ab = linear_alpha_bar(t), abp = linear_alpha_bar(t - 1);
    // Relative 1e-6: the library works in float64 and rounds to float32 only at the end.
    const auto near = [](double got, double want) { return std::abs(got / want - 1) < 1e-6; };
    EXPECT_TRUE(near(at(s.posterior_variance, t), (1 - abp) / (1 - ab) * b)) << t;
    EXPECT_TRUE(near(at(s.posterior_mean_coef_x0, t), b * std::sqrt(abp) / (1 - ab))) << t;
    EXPECT_TRUE(near(at(s.posterior_mean_coef_xt, t), (1 - abp) * std::sqrt(1 - b) / (1 - ab))) << t;
  }
}

TEST(Schedule, BadConfigsAreRefusedWithTheValue) {
  ddpm::ScheduleConfig c;
  c.timesteps = 0;
  try {
    ddpm::make_schedule(c);
    FAIL() << "timesteps 0 accepted";
  } catch (const ddpm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("timesteps 0"), std::string::npos) << e.what();
  }
  c = {};
  c.beta_end = 1.5;
  EXPECT_THROW(ddpm::make_schedule(c), ddpm::Error);
  EXPECT_THROW(ddpm::schedule_kind_from_string("quadratic"), ddpm::Error);
}

}  // namespace
