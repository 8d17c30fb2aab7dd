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
  const double efficiency = wall > 0 ? cpu / (threads * wall) : 0;
  std::lock_guard<std::mutex> lock(mutex_);
  if (threads > level_) {  // a probe one level up (wall 0: it failed; the next one is due later)
    probing_ = false;
    changed_at_ = now;
    if (wall > 0 && efficiency >= policy_.high) {
      level_ = threads;
      sum_ = count_ = 0;
    }
    return;
  }
  if (!(wall > 0) || threads < level_ || level_ < 2) return;  // fewer parts: says nothing of the level
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
