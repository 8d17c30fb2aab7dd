// Asset folders: the committed samples load, and bad folders give messages naming them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ddpm/io/asset_folder.h"
#include "ddpm/io/error.h"
#include "ddpm/io/png.h"

namespace fs = std::filesystem;

namespace {

std::string error_of(const std::string& root) {
  try {
    ddpm::io::load_asset_folder(root);
  } catch (const ddpm::Error& e) {
    return e.what();
  }
  return "no error";
}

struct TempDir {
  fs::path path = fs::temp_directory_path() /
                  ("ddpm_assets_" + std::to_string(::getpid()) + "_" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

TEST(AssetFolder, SamplesLoadWithClassesInOrder) {
  std::size_t calls = 0;
  ddpm::io::AssetFolderOptions o;
  o.size = 32;
  o.progress = [&](std::size_t done, std::size_t all) {
    ++calls;
    EXPECT_LE(done, all);
  };
  const auto f = ddpm::io::load_asset_folder(DDPM_SOURCE_DIR "/assets/samples", o);
  ASSERT_EQ(f.class_names.size(), 3u);
  EXPECT_TRUE(std::is_sorted(f.class_names.begin(), f.class_names.end()));
  EXPECT_EQ(f.images.size(), 60u);
  EXPECT_EQ(calls, 60u);
  EXPECT_TRUE(f.skipped.empty());
  for (const auto& im : f.images) {
    EXPECT_EQ(im.width, 32);
    EXPECT_EQ(im.channels, 4);
  }
}

TEST(AssetFolder, BadFoldersAreNamed) {
  EXPECT_NE(error_of("/nonexistent/assets").find("'/nonexistent/assets' does not exist"),
            std::string::npos);
  TempDir d;
  EXPECT_NE(error_of(d.path.string()).find("no class subfolders"), std::string::npos);
  std::ofstream(d.path / "file.txt") << "x";
  EXPECT_NE(error_of((d.path / "file.txt").string()).find("is not a folder"), std::string::npos);
  fs::create_directories(d.path / "cats");
  std::ofstream(d.path / "cats" / "notes.txt") << "not an image";
  const std::string e = error_of(d.path.string());
  EXPECT_NE(e.find("holds no image that decodes"), std::string::npos) << e;
}

TEST(AssetFolder, CorruptFileAmongGoodOnesIsSkippedWithItsReason) {
  TempDir d;
  fs::create_directories(d.path / "a");
  ddpm::io::Image im(8, 8, 4);
  ddpm::io::write_png((d.path / "a" / "good.png").string(), im);
  std::ofstream(d.path / "a" / "bad.png") << "\x89PNG garbage";
  const auto f = ddpm::io::load_asset_folder(d.path.string());
  EXPECT_EQ(f.images.size(), 1u);
  ASSERT_EQ(f.skipped.size(), 1u);
  EXPECT_NE(f.skipped[0].find("bad.png"), std::string::npos);
}

}  // namespace
