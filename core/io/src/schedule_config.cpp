#include "ddpm/schedule_config.h"

#include "ddpm/io/error.h"

namespace ddpm {

std::string to_string(ScheduleKind kind) { return kind == ScheduleKind::Linear ? "linear" : "cosine"; }

ScheduleKind schedule_kind_from_string(const std::string& name) {
  if (name == "linear") return ScheduleKind::Linear;
  if (name == "cosine") return ScheduleKind::Cosine;
  throw Error("unknown noise schedule '" + name + "': allowed 'linear' or 'cosine'");
}

void ScheduleConfig::validate() const {
  if (timesteps < 1 || timesteps > 100000) {
    throw Error("schedule timesteps " + std::to_string(timesteps) + " is invalid: allowed 1 to 100000");
  }
  if (kind == ScheduleKind::Linear &&
      !(beta_start > 0 && beta_end < 1 && beta_start <= beta_end)) {
    throw Error("linear schedule betas " + std::to_string(beta_start) + ".." +
                std::to_string(beta_end) + " are invalid: need 0 < beta_start <= beta_end < 1");
  }
  if (kind == ScheduleKind::Cosine && !(cosine_s >= 0 && cosine_s < 1)) {
    throw Error("cosine schedule offset s = " + std::to_string(cosine_s) + " is invalid: allowed [0, 1)");
  }
}

std::string to_string(Variance v) { return v == Variance::Beta ? "beta" : "beta_tilde"; }

Variance variance_from_string(const std::string& name) {
  if (name == "beta") return Variance::Beta;
  if (name == "beta_tilde" || name == "posterior") return Variance::PosteriorBeta;
  throw Error("unknown reverse variance '" + name + "': allowed 'beta' or 'beta_tilde'");
}

}  // namespace ddpm
