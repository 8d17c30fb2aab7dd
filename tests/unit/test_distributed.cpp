// Data-parallel training on c10d (Gloo over TCP on 127.0.0.1): two ranks (threads of this
// process, each with its own process group) keep identical weights after every step and end
// where one process with the same global batch and seed ends; bad settings are refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include "error_of.h"

#include "ddpm/distributed.h"
#include "ddpm/model_file.h"
#include "ddpm/trainer.h"
#include "trained_model.h"

namespace {

namespace fs = std::filesystem;

ddpm::TrainOptions options(const std::string& out) {
  ddpm::TrainOptions o;
  o.assets = DDPM_SOURCE_DIR "/assets/samples";
  o.architecture = ddpm::testing::tiny16_architecture();
  o.steps = 4;
  o.batch = 8;
  o.lr = 1e-3;
  o.seed = 11;
  o.flip = true;  // every random draw of the batch is exercised
  o.threads = 1;
  o.bf16 = 0;  // the one-process run in float32, as data-parallel runs train by default
  o.out_model = out;
  return o;
}

int test_port() { return 29800 + static_cast<int>(getpid() % 150); }

TEST(Distributed, TwoRanksStayIdenticalAndMatchOneProcess) {
  const fs::path dir = fs::temp_directory_path() / ("ddpm_dist_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::vector<double> checksums[2];
  double comm_seconds = 0;
  std::string errors[2];
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      ddpm::TrainOptions o = options((dir / ("rank" + std::to_string(r) + ".safetensors")).string());
      o.distributed.world_size = 2;
      o.distributed.rank = r;
      o.distributed.master_port = test_port();
      o.distributed.timeout_seconds = 30;
      try {
        ddpm::train(o, [&](const ddpm::TrainProgress& p) {
          if (p.message.empty()) {
            checksums[r].push_back(p.replica_checksum);
            if (r == 0) comm_seconds = p.communication_seconds;
          }
        });
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : ranks) t.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  ASSERT_EQ(checksums[0].size(), 4u);
  ASSERT_EQ(checksums[1].size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(checksums[0][i], checksums[1][i]) << "step " << i + 1 << ": the replicas differ";
    if (i > 0) EXPECT_NE(checksums[0][i], checksums[0][i - 1]) << "the weights did not move";
  }
  EXPECT_GT(comm_seconds, 0);
  EXPECT_TRUE(fs::exists(dir / "rank0.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "rank1.safetensors")) << "only rank 0 writes";

  // One process, the same global batch and seed.
  const ddpm::TrainOptions single = options((dir / "single.safetensors").string());
  ddpm::train(single);
  const ddpm::Model a = ddpm::load_model((dir / "rank0.safetensors").string());
  const ddpm::Model b = ddpm::load_model((dir / "single.safetensors").string());
  double worst = 0;
  const auto pa = a.unet->named_parameters(), pb = b.unet->named_parameters();
  for (const auto& p : pa) {
    worst = std::max(worst, (p.value() - pb[p.key()]).abs().max().item<double>());
  }
  // Float rounding differs (two half-batch sums vs one); AdamW divides each gradient by its own
  // running magnitude, so for weights whose gradient is almost 0 that rounding can move them by up
  // to lr a step. Measured: 2.0e-5 (1.2e-6 on another machine) against a bound of 2% of the
  // largest possible move, lr * steps = 4e-3; a wrong slice or a missing average gives > 1e-3.
  const ddpm::TrainOptions o = options("");
  EXPECT_LT(worst, 0.02 * o.lr * o.steps) << "the two-rank run ended elsewhere than the one-process run";
  std::printf("two ranks vs one process after 4 steps: max weight difference %.2e\n", worst);
  fs::remove_all(dir);
}

TEST(Distributed, BadSettingsAreRefusedByName) {
  using ddpm::testing::error_of;
  ddpm::TrainOptions o = options("");
  o.distributed.world_size = 3;
  EXPECT_NE(error_of([&] { o.validate(); }).find("must be divisible by the world size 3"), std::string::npos);
  o.batch = 9;
  o.distributed.rank = 3;
  EXPECT_NE(error_of([&] { o.validate(); }).find("rank 3 is invalid: allowed 0 to 2"), std::string::npos);
  o.distributed.rank = 0;
  o.distributed.master_port = 70000;
  EXPECT_NE(error_of([&] { o.validate(); }).find("master port 70000 is invalid"), std::string::npos);
  setenv("WORLD_SIZE", "two", 1);
  EXPECT_NE(error_of([] { ddpm::distributed_from_env(); }).find("WORLD_SIZE='two'"), std::string::npos);
  unsetenv("WORLD_SIZE");
}

TEST(Distributed, ARankThatNeverComesIsReportedWithinTheTimeout) {
  ddpm::DistributedOptions d;
  d.world_size = 2;
  d.rank = 0;
  d.master_port = test_port() + 200;
  d.timeout_seconds = 2;
  const auto start = std::chrono::steady_clock::now();
  const std::string e = ddpm::testing::error_of([&] { ddpm::ProcessGroup g(d); });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(e.find("did not answer within 2 s"), std::string::npos) << e;
  EXPECT_LT(s, 10);
}

// Gloo writes with writev, whose SIGPIPE would end the process once a peer has gone (a rank
// killed mid-run: core/src/distributed.cpp). Every thread the two groups start blocks it, read
// from the kernel's own record of each thread's mask; the threads that made the groups have
// their masks back.
TEST(Distributed, TheGroupsThreadsBlockSigpipeAndTheCallersDoNot) {
  const auto threads_now = [] {
    std::set<std::string> ids;
    for (const auto& e : fs::directory_iterator("/proc/self/task")) ids.insert(e.path().filename().string());
    return ids;
  };
  const auto blocks_sigpipe = [](const std::string& id) {  // -1: the thread has ended
    std::ifstream status("/proc/self/task/" + id + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("SigBlk:", 0) == 0) return int((std::stoull(line.substr(7), nullptr, 16) >> (SIGPIPE - 1)) & 1);
    }
    return -1;
  };
  const std::set<std::string> before = threads_now();
  std::unique_ptr<ddpm::ProcessGroup> groups[2];
  int caller_blocks[2] = {-1, -1};
  std::string errors[2];
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      ddpm::DistributedOptions d;
      d.world_size = 2;
      d.rank = r;
      d.master_port = test_port() + 100;
      d.timeout_seconds = 30;
      try {
        groups[r] = std::make_unique<ddpm::ProcessGroup>(d);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
      sigset_t mask;
      pthread_sigmask(SIG_BLOCK, nullptr, &mask);
      caller_blocks[r] = sigismember(&mask, SIGPIPE);
    });
  }
  for (auto& t : ranks) t.join();
  ASSERT_TRUE(errors[0].empty() && errors[1].empty()) << errors[0] << errors[1];
  EXPECT_EQ(caller_blocks[0], 0);
  EXPECT_EQ(caller_blocks[1], 0);
  int started = 0;
  for (const std::string& id : threads_now()) {
    if (before.count(id)) continue;
    const int blocks = blocks_sigpipe(id);
    if (blocks < 0) continue;
    ++started;
    EXPECT_EQ(blocks, 1) << "thread " << id << " started by a group takes SIGPIPE";
  }
  EXPECT_GT(started, 0);  // the stores' and Gloo's threads
  std::string barrier_error;  // the groups still work
  std::thread other([&] {
    try {
      groups[1]->barrier();
    } catch (const std::exception& e) {
      barrier_error = e.what();
    }
  });
  EXPECT_NO_THROW(groups[0]->barrier());
  other.join();
  EXPECT_TRUE(barrier_error.empty()) << barrier_error;
}

}  // namespace
