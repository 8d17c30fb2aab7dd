// The studio's settings file: what it writes, what it reads back, and how a file of an earlier
// studio is read.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include <unistd.h>  // getpid

#include "settings.h"

namespace {

namespace fs = std::filesystem;

class SettingsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ddpm-settings-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "settings.json").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& text) { std::ofstream(path_) << text; }
  nlohmann::json written() {
    std::ifstream in(path_);
    return nlohmann::json::parse(in);
  }
  studio::Settings load() {
    std::string warning;
    studio::Settings s = studio::load_settings(path_, warning);
    EXPECT_EQ(warning, "");
    return s;
  }
  fs::path dir_;
  std::string path_;
};

TEST_F(SettingsFile, ChangedSettingsRoundTrip) {
  studio::Settings s;
  s.last_model = "models/mine.safetensors";
  s.window_width = 1600;
  s.sampler = 1;
  s.steps = 37;
  s.guidance = 4.5f;
  s.guidance_interval = false;
  s.live_steps = 6;
  s.live_blend = 0.25f;
  std::string error;
  ASSERT_TRUE(studio::save_settings(path_, s, error)) << error;
  const studio::Settings r = load();
  EXPECT_EQ(r.last_model, s.last_model);
  EXPECT_EQ(r.window_width, 1600);
  EXPECT_EQ(r.window_height, studio::Settings{}.window_height);
  EXPECT_EQ(r.sampler, 1);
  EXPECT_EQ(r.steps, 37);
  EXPECT_FLOAT_EQ(r.guidance, 4.5f);
  EXPECT_FALSE(r.guidance_interval);
  EXPECT_EQ(r.live_steps, 6);
  EXPECT_FLOAT_EQ(r.live_blend, 0.25f);
}

// A setting left at its default is not written, so a later, better default reaches the user.
TEST_F(SettingsFile, DefaultsAreNotWritten) {
  studio::Settings s;
  s.steps = 12;
  std::string error;
  ASSERT_TRUE(studio::save_settings(path_, s, error)) << error;
  const nlohmann::json j = written();
  EXPECT_EQ(j.at("steps"), 12);
  EXPECT_EQ(j.at("format"), 2);
  EXPECT_FALSE(j.contains("sampler"));
  EXPECT_FALSE(j.contains("guidance"));
  EXPECT_FALSE(j.contains("live_steps"));
  EXPECT_EQ(j.size(), 2u);
}

// An earlier studio wrote every setting; its default sampler at its default 8 steps reads as
// today's default, a count the user chose stays.
TEST_F(SettingsFile, AnEarlierStudiosDefaultStepCountBecomesTodays) {
  const std::string all_but_steps =
      R"("last_model": "a.safetensors", "window_width": 1280, "window_height": 800, "sampler": 4,
         "guidance": 3.0, "batch": 4, "guidance_interval": true, "live_sampler": 4, "live_steps": 8)";
  write("{" + all_but_steps + R"(, "steps": 8})");
  studio::Settings r = load();
  EXPECT_EQ(r.steps, studio::Settings{}.steps);
  EXPECT_NE(r.steps, 8);
  EXPECT_EQ(r.last_model, "a.safetensors");
  EXPECT_EQ(r.live_steps, 8);  // the Live panel's 8 stages are still its default

  write("{" + all_but_steps + R"(, "steps": 14})");
  EXPECT_EQ(load().steps, 14);

  // Written by this studio: 8 is the user's own choice.
  studio::Settings mine;
  mine.steps = 8;
  std::string error;
  ASSERT_TRUE(studio::save_settings(path_, mine, error)) << error;
  EXPECT_EQ(load().steps, 8);
}

TEST_F(SettingsFile, ABrokenFileGivesTheDefaultsAndSaysWhy) {
  for (const std::string text : {"{\"steps\": ", "[1, 2]", "{\"steps\": \"many\"}"}) {
    write(text);
    std::string warning;
    const studio::Settings r = studio::load_settings(path_, warning);
    EXPECT_NE(warning.find(path_), std::string::npos) << text;
    EXPECT_EQ(r.steps, studio::Settings{}.steps) << text;
  }
}

TEST_F(SettingsFile, OutOfRangeValuesAreClamped) {
  write(R"({"format": 2, "steps": 100000, "sampler": 99, "batch": 0, "guidance": -1})");
  const studio::Settings r = load();
  EXPECT_EQ(r.steps, 1000);
  EXPECT_EQ(r.sampler, 4);
  EXPECT_EQ(r.batch, 1);
  EXPECT_FLOAT_EQ(r.guidance, 0.0f);
}

}  // namespace
