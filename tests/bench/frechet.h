#pragma once
// The Frechet distance between Gaussians fitted to feature rows (FID's formula), in float64,
// with a self-check against closed forms that runs before any number is trusted.
#include <torch/torch.h>

namespace quality {

struct Gaussian {
  torch::Tensor mean, cov;
};

// Mean and unbiased covariance of the rows of `features` [N, D].
Gaussian fit(const torch::Tensor& features);

// |m1 - m2|^2 + tr S1 + tr S2 - 2 tr (S1^1/2 S2 S1^1/2)^1/2.
double frechet(const Gaussian& a, const Gaussian& b);

// Throws ddpm::Error when the distance disagrees with cases of known answer.
void check_frechet();

}  // namespace quality
