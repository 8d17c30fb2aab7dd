#pragma once
// A folder of the running test's own (suite, name and process in its name, so parallel ctest
// runs never share one), removed with everything in it when the test ends.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ddpm::testing {

struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / name();
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& file) const { return (path / file).string(); }

 private:
  static std::string name() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string("ddpm_") + test->test_suite_name() + "_" + test->name() + "_" + std::to_string(::getpid());
  }
};

}  // namespace ddpm::testing
