// The split inference forward (core/src/split_forward.h) gives the same numbers every time, and
// the same as each part computed alone: a seed must give the same image on every run. Calls
// come from fresh threads and the model loads on a short-lived one, as in the plugin.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <mutex>
#include <thread>
#include <vector>

#include "ddpm/model_file.h"
#include "ddpm/runtime.h"
#include "ddpm/sampler.h"
#include "core_share.h"
#include "split_forward.h"

namespace {

TEST(SplitForward, IsDeterministicAndEqualsThePartsAlone) {
  ddpm::init_runtime(2);
  c10::InferenceMode inference;
  const ddpm::Model m = ddpm::load_model(std::string(DDPM_SOURCE_DIR) + "/assets/emoji32/model.safetensors");
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({4, 4, 32, 32});
  const torch::Tensor t = torch::tensor({500, 500, 20, 20});
  const torch::Tensor y = torch::tensor({1, -1, 1, -1});
  ddpm::UNet net = m.unet;
  const ddpm::BatchForward forward = [&](const torch::Tensor& xs, const torch::Tensor& ts, const torch::Tensor& ys, const torch::Tensor&) {
    return net->forward(xs, ts, ys, false);
  };
  const int previous = at::get_num_threads();
  ddpm::set_calling_thread_threads(1);
  const torch::Tensor alone = torch::cat({forward(x.narrow(0, 0, 2), t.narrow(0, 0, 2), y.narrow(0, 0, 2), {}),
                                          forward(x.narrow(0, 2, 2), t.narrow(0, 2, 2), y.narrow(0, 2, 2), {})});
  ddpm::set_calling_thread_threads(previous);
  ASSERT_EQ(at::get_num_threads(), 2);
  // Every generation job calls it from a worker thread of its own, as the plugin does.
  for (int i = 0; i < 20; ++i) {
    torch::Tensor split;
    std::thread([&] {
      c10::InferenceMode job_inference;
      split = ddpm::split_forward(forward, x, t, y);
    }).join();
    ASSERT_EQ((split - alone).abs().max().item<float>(), 0.0f) << "run " << i;
  }
}

TEST(SplitForward, GuidedImagesRepeatOnWorkerThreads) {
  ddpm::init_runtime(2);
  ddpm::Model m;
  std::thread([&] {  // as the plugin loads: on a short-lived thread
    m = ddpm::load_model(std::string(DDPM_SOURCE_DIR) + "/assets/emoji32/model.safetensors");
    m.unet->eval();
    for (auto& p : m.unet->parameters()) p.set_requires_grad(false);
  }).join();
  ddpm::SampleOptions o;
  o.classes = {1};
  o.batch = 1;
  o.sampler = ddpm::SamplerKind::DDIM;
  o.steps = 8;
  o.seed = 11;
  o.guidance = 3;
  o.clip_x0 = true;
  ddpm::UNet net = m.unet;
  torch::Tensor first;
  for (int i = 0; i < 8; ++i) {
    torch::Tensor images;
    std::thread([&] {
      c10::InferenceMode inference;
      images = ddpm::sample(net, m.schedule, o).images;
    }).join();
    if (i == 0) first = images;
    ASSERT_EQ((images - first).abs().max().item<float>(), 0.0f) << "run " << i;
  }
}


// A job's worker runs its own arithmetic on one intra-op thread and gives its budget of cores to
// the forward (runtime.h, set_calling_thread_budget): the parts, or the whole forward of a batch
// of one, must get the budget, not the worker's own team size.
TEST(SplitForward, WorkerBudgetGoesToTheForward) {
  ddpm::init_runtime(2);
  c10::InferenceMode inference;
  std::mutex m;
  std::vector<int> seen;  // intra-op threads of each part
  const ddpm::BatchForward forward = [&](const torch::Tensor& xs, const torch::Tensor&, const torch::Tensor&,
                                         const torch::Tensor&) {
    std::lock_guard<std::mutex> lock(m);
    seen.push_back(at::get_num_threads());
    return xs * 2;
  };
  const auto run = [&](int batch, int budget, bool small) {
    seen.clear();
    std::thread([&] {
      c10::InferenceMode job_inference;
      ddpm::set_calling_thread_budget(budget);
      ddpm::set_calling_thread_threads(1);
      const torch::Tensor x = torch::ones({batch, 1, 2, 2});
      const torch::Tensor out = ddpm::split_forward(forward, x, torch::zeros({batch}), torch::zeros({batch}), {}, small);
      EXPECT_EQ((out - 2).abs().max().item<float>(), 0.0f);
      EXPECT_EQ(at::get_num_threads(), 1) << "the worker's own team must stay at one thread";
    }).join();
    return seen;
  };
  auto parts = run(2, 2, false);  // two parts of one thread each (the caller may take both)
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0], 1);
  EXPECT_EQ(parts[1], 1);
  parts = run(1, 2, false);  // one image: the whole budget on the worker's thread
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0], 2);
  parts = run(1, 2, true);  // a small network: one thread beats a team
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0], 1);
  parts = run(2, 0, false);  // no budget: the worker's own count (1)
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0], 1);
}

// With the automatic count and the cores taken (the share at one thread), a split forward runs
// the whole batch as one forward on the worker's own thread, with the same numbers as the parts
// on two threads: a seed's image does not depend on how busy the machine was.
TEST(SplitForward, AutomaticCountOnOneThreadGivesTheSameNumbers) {
  ddpm::init_runtime(2);
  c10::InferenceMode inference;
  const ddpm::Model m = ddpm::load_model(std::string(DDPM_SOURCE_DIR) + "/assets/emoji32/model.safetensors");
  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({4, 4, 32, 32});
  const torch::Tensor t = torch::tensor({900, 900, 40, 40});
  const torch::Tensor y = torch::tensor({2, -1, 2, -1});
  ddpm::UNet net = m.unet;
  std::mutex mu;
  std::vector<std::pair<std::thread::id, int64_t>> seen;  // thread and batch of each forward
  const ddpm::BatchForward forward = [&](const torch::Tensor& xs, const torch::Tensor& ts, const torch::Tensor& ys,
                                         const torch::Tensor&) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen.emplace_back(std::this_thread::get_id(), xs.size(0));
    }
    return net->forward(xs, ts, ys, false);
  };
  const auto run = [&](bool automatic, std::thread::id& worker) {
    seen.clear();
    torch::Tensor out;
    std::thread([&] {
      c10::InferenceMode job_inference;
      worker = std::this_thread::get_id();
      ddpm::set_calling_thread_budget(2, automatic);
      ddpm::set_calling_thread_threads(1);
      out = ddpm::split_forward(forward, x, t, y);
    }).join();
    return out;
  };
  std::thread::id worker;
  const torch::Tensor fixed = run(false, worker);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].second, 2);

  // The cores are busy: four calls whose parts got half of their cores; no probe for an hour.
  auto& share = ddpm::core_share();
  share.reset(ddpm::CoreShare::Policy{0.7, 0.8, 3600, 4});
  const double now = 1e12;  // dated far ahead of the steady clock: no probe falls due
  ASSERT_EQ(share.threads(2, 2, now), 2);
  for (int i = 0; i < 4; ++i) share.report(2, 0.01, 0.01, now);
  ASSERT_EQ(share.level(), 1);
  const torch::Tensor shared = run(true, worker);
  ASSERT_EQ(seen.size(), 1u) << "one forward of the whole batch";
  EXPECT_EQ(seen[0].first, worker);
  EXPECT_EQ(seen[0].second, 4);
  EXPECT_EQ((shared - fixed).abs().max().item<float>(), 0.0f);
  share.reset();
}

}  // namespace
