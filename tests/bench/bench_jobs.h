#pragma once
// What the benchmarks that go through the C ABI share: the time of a generation job as an
// engine sees it, from ddpm_generate_start to a finished ddpm_job_wait (worker start, noise
// and result included).
#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "ddpm_plugin.h"

namespace bench {

// Median seconds of `reps` jobs with `params` after one warm-up job; job i gets seed
// params.seed + i. Throws naming the call and the plugin's message when a job fails.
inline double median_job_seconds(ddpm_model* model, ddpm_generate_params params, int reps,
                                 ddpm_step_fn callback = nullptr, void* user_data = nullptr) {
  std::vector<double> t;
  const uint64_t seed = params.seed;
  for (int i = 0; i <= reps; ++i) {
    params.seed = seed + static_cast<uint64_t>(i);
    ddpm_job* job = nullptr;
    const auto start = std::chrono::steady_clock::now();
    ddpm_status s = ddpm_generate_start(model, &params, callback, user_data, &job);
    if (s == DDPM_OK) s = ddpm_job_wait(job, -1);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ddpm_job_free(job);
    if (s != DDPM_OK) {
      throw std::runtime_error(std::string("generation job: ") + ddpm_status_string(s) + ": " +
                               ddpm_last_error());
    }
    if (i > 0) t.push_back(seconds);  // the first is the warm-up
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace bench
