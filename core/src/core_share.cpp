#include "core_share.h"

#include <algorithm>

namespace ddpm {

int CoreShare::threads(int parts, int budget, double now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (level_ == 0 || budget > max_) {  // first call, or a larger budget: start at the top
    level_ = max_ = std::max(max_, budget);
    sum_ = count_ = 0;
    changed_at_ = now;
  }
  const int granted = std::min({level_, budget, parts});
  if (level_ < budget && granted < parts && !probing_ && now - changed_at_ >= policy_.probe_seconds) {
    probing_ = true;
    return granted + 1;
  }
  return granted;
}

void CoreShare::report(int threads, double wall, double cpu, double now) {
  if (!(wall > 0)) return;
  const double efficiency = cpu / (threads * wall);
  std::lock_guard<std::mutex> lock(mutex_);
  if (threads > level_) {  // a probe one level up
    probing_ = false;
    changed_at_ = now;
    if (efficiency >= policy_.high) {
      level_ = threads;
      sum_ = count_ = 0;
    }
    return;
  }
  if (threads < level_ || level_ < 2) return;  // fewer parts than the level: says nothing of it
  sum_ += efficiency;
  if (++count_ < policy_.window) return;
  if (sum_ / count_ < policy_.low) {
    --level_;
    changed_at_ = now;
  }
  sum_ = count_ = 0;
}

int CoreShare::level() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return level_;
}

void CoreShare::reset(Policy policy) {
  std::lock_guard<std::mutex> lock(mutex_);
  policy_ = policy;
  level_ = max_ = count_ = 0;
  sum_ = changed_at_ = 0;
  probing_ = false;
}

CoreShare& core_share() {
  static CoreShare share;
  return share;
}

}  // namespace ddpm
