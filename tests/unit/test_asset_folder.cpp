// Asset folders: the committed samples load, and bad folders give messages naming them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ddpm/io/asset_folder.h"
#include "ddpm/io/error.h"
#include "ddpm/io/png.h"
#include "temp_dir.h"

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

using ddpm::testing::TempDir;

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

// Awkward folders a user may give a fine-tune: each works or is refused naming the problem.
TEST(AssetFolder, AwkwardClassFoldersWorkOrAreNamed) {
  const auto image = [](const fs::path& p, int w, int h, int channels) {
    fs::create_directories(p.parent_path());
    ddpm::io::Image im(w, h, channels);
    for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<uint8_t>(i * 7);
    ddpm::io::write_png(p.string(), im);
  };
  {  // one class of five images of mixed sizes and channel counts; a folder with none decoding
    TempDir d;
    const int sizes[][3] = {{5, 5, 4}, {64, 32, 3}, {17, 80, 1}, {40, 40, 2}, {128, 128, 4}};
    for (int i = 0; i < 5; ++i) image(d.path / "few" / (std::to_string(i) + ".png"), sizes[i][0], sizes[i][1], sizes[i][2]);
    fs::create_directories(d.path / "broken");
    std::ofstream(d.path / "broken" / "x.png") << "not a png";
    const auto f = ddpm::io::load_asset_folder(d.path.string());
    EXPECT_EQ(f.class_names, std::vector<std::string>{"few"});  // "broken" (sorted first) left out
    ASSERT_EQ(f.images.size(), 5u);
    for (const auto& im : f.images) EXPECT_EQ(im.width, 32);
    EXPECT_EQ(f.labels, std::vector<int>(5, 0));
    ASSERT_EQ(f.skipped.size(), 2u);
    EXPECT_NE(f.skipped[1].find("the class is left out"), std::string::npos) << f.skipped[1];
  }
  {  // names that differ only in case
    TempDir d;
    image(d.path / "Cats" / "a.png", 8, 8, 4);
    image(d.path / "cats" / "a.png", 8, 8, 4);
    const std::string e = error_of(d.path.string());
    EXPECT_NE(e.find("'Cats' and 'cats'"), std::string::npos) << e;
    EXPECT_NE(e.find("differ only in case"), std::string::npos) << e;
  }
  {  // a name that is not UTF-8 (Latin-1 bytes), and one that means "no class"
    TempDir d;
    image(d.path / "caf\xe9" / "a.png", 8, 8, 4);
    const std::string e = error_of(d.path.string());
    EXPECT_NE(e.find("not valid UTF-8"), std::string::npos) << e;
    fs::remove_all(d.path / "caf\xe9");
    image(d.path / "caf\xc3\xa9" / "a.png", 8, 8, 4);  // the same name in UTF-8 is fine
    EXPECT_EQ(ddpm::io::load_asset_folder(d.path.string()).class_names, std::vector<std::string>{"caf\xc3\xa9"});
    image(d.path / "None" / "a.png", 8, 8, 4);
    EXPECT_NE(error_of(d.path.string()).find("means 'no class'"), std::string::npos);
  }
}
