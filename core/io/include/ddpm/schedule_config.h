#pragma once
// The numbers that describe a noise schedule and the reverse variance. Torch-free, so model
// metadata can be parsed and validated without LibTorch.
#include <string>

namespace ddpm {

enum class ScheduleKind { Linear, Cosine };

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::Linear;
  int timesteps = 1000;
  double beta_start = 1e-4;  // linear only
  double beta_end = 0.02;    // linear only
  double cosine_s = 0.008;   // cosine only (Improved DDPM's offset)
  void validate() const;     // throws ddpm::Error naming the field
};

std::string to_string(ScheduleKind kind);
ScheduleKind schedule_kind_from_string(const std::string& name);

// The reverse-process variance sigma_t^2: beta_t (the reference's choice) or the true
// posterior variance beta_tilde_t.
enum class Variance { Beta, PosteriorBeta };
std::string to_string(Variance v);
Variance variance_from_string(const std::string& name);

}  // namespace ddpm
