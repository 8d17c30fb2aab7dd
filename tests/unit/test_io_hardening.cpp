// Regressions of the hardening work (issue 12), torch-free: each input here once crashed, read
// out of bounds, hit undefined behaviour, or made a small file allocate a lot. The fuzzers'
// corpora (tests/fuzz/corpus) hold the same files, so every fuzz run replays them too.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/io/file_bytes.h"
#include "ddpm/io/model_info.h"
#include "ddpm/io/png.h"
#include "ddpm/io/torch_checkpoint.h"
#include "error_of.h"

namespace fs = std::filesystem;
using ddpm::testing::error_of;

namespace {

std::vector<std::uint8_t> corpus(const std::string& target, const std::string& name) {
  return ddpm::io::read_file(std::string(DDPM_SOURCE_DIR) + "/tests/fuzz/corpus/" + target + "/" + name,
                             1 << 20);
}

std::string decode_error(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  return error_of([&] { ddpm::io::decode_image(bytes.data(), bytes.size(), name); });
}

std::string json_error(const std::string& text) {
  return error_of([&] { ddpm::io::model_info_from_json(text, "m.safetensors"); });
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Mean absolute difference per byte of two images of one layout.
double mean_abs_diff(const ddpm::io::Image& a, const ddpm::io::Image& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  return sum / double(a.pixels.size());
}

TEST(IoHardening, CorruptJpegHuffmanTablesAreRefusedByName) {
  // Debian 12's stb_image writes past a 257-byte array on each of these (heap corruption);
  // JPEG now goes to libjpeg-turbo. The first declares 512 codes in its first table; the other
  // two (found by fuzz_image) hide such a table behind bytes that a pre-check walking the file
  // read differently from stb (fill bytes before a stuffed zero; a table after the scan).
  for (const char* f : {"regress_jpeg_dht_overflow.jpg", "regress_jpeg_fill_then_stuffed_zero.jpg",
                        "regress_jpeg_dht_after_scan.jpg"}) {
    const std::string e = decode_error(corpus("image", f), f);
    EXPECT_TRUE(contains(e, std::string("image '") + f + "' cannot be decoded: corrupt JPEG (")) << e;
  }
  EXPECT_TRUE(contains(decode_error(corpus("image", "regress_jpeg_dht_overflow.jpg"), "d.jpg"),
                       "Bogus Huffman table definition"));
  // The file it was made from still decodes.
  const auto good = corpus("image", "baseline.jpg");
  EXPECT_EQ(decode_error(good, "ok.jpg"), "no error");
}

TEST(IoHardening, JpegDecodesToThePictureItHolds) {
  // Each JPEG of the corpus was saved by PIL from the same 12x10 picture as the PNGs.
  const auto decode = [](const char* f) {
    const auto b = corpus("image", f);
    return ddpm::io::decode_image(b.data(), b.size(), f);
  };
  const ddpm::io::Image rgb = decode("rgb_interlaced.png"), gray = decode("gray.png");
  // Bounds from PIL's own decoding of these files: about 1 for the two at quality 95 without
  // chroma subsampling, 6.5 for the gray one at 75, 15.6 and 18.1 for the 4:2:0 ones (colour
  // halved on a picture of hard edges). Against that, channels swapped give 24.5, a row shifted
  // 42, uninverted CMYK 159.
  for (const auto& [f, bound] : std::vector<std::pair<std::string, double>>{
           {"rgb444.jpg", 4}, {"cmyk.jpg", 4}, {"gray.jpg", 10}, {"baseline.jpg", 20}, {"progressive.jpg", 20}}) {
    const ddpm::io::Image im = decode(f.c_str());
    const ddpm::io::Image& want = f == "gray.jpg" ? gray : rgb;
    ASSERT_EQ(im.width, 12) << f;
    ASSERT_EQ(im.height, 10) << f;
    ASSERT_EQ(im.channels, want.channels) << f;
    EXPECT_LT(mean_abs_diff(im, want), bound) << f;
  }
  // A file cut short is refused, not completed with grey.
  auto cut = corpus("image", "baseline.jpg");
  cut.resize(cut.size() * 3 / 4);
  EXPECT_TRUE(contains(decode_error(cut, "cut.jpg"), "image 'cut.jpg' cannot be decoded: corrupt JPEG (")) <<
      decode_error(cut, "cut.jpg");
}

TEST(IoHardening, ForgedImageSizeIsRefusedFromTheHeader) {
  const auto bytes = corpus("image", "regress_forged_size.png");
  ASSERT_LT(bytes.size(), 100u);
  const std::string e = decode_error(bytes, "forged.png");
  EXPECT_TRUE(contains(e, "declares 8192x8192 pixels in a file of")) << e;
}

TEST(IoHardening, ForgedPngChunkLengthIsRefusedBeforeStbAllocates) {
  // stb reallocated 2 GiB for this 168-byte file's IDAT chunk before reading it (fuzz_image).
  const auto bytes = corpus("image", "regress_png_chunk_length.png");
  const std::string e = decode_error(bytes, "chunk.png");
  EXPECT_TRUE(contains(e, "image 'chunk.png' is a PNG whose chunk at byte")) << e;
  EXPECT_TRUE(contains(e, "truncated or forged")) << e;
  // Every chunk of an image this library writes fits.
  ddpm::io::Image im(3, 2, 4);
  im.pixels[5] = 200;
  const auto good = ddpm::io::encode_png(im);
  EXPECT_EQ(decode_error(good, "ok.png"), "no error");
}

TEST(IoHardening, FormatsOutsideTheListAreRefusedByName) {
  const std::string pnm = "P6\n2 1\n255\n\x01\x02\x03\x04\x05\x06";
  const std::vector<std::uint8_t> ppm(pnm.begin(), pnm.end());
  EXPECT_TRUE(contains(decode_error(ppm, "a.ppm"), "is a PNM file, which is not accepted")) << decode_error(ppm, "a.ppm");
  const std::string hdr = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 1\n\x80\x80\x80\x80";
  const std::vector<std::uint8_t> rad(hdr.begin(), hdr.end());
  EXPECT_TRUE(contains(decode_error(rad, "a.hdr"), "Radiance HDR")) << decode_error(rad, "a.hdr");
  const std::vector<std::uint8_t> psd = {'8', 'B', 'P', 'S', 0, 1, 0, 0, 0, 0, 0, 0, 0, 3};
  EXPECT_TRUE(contains(decode_error(psd, "a.psd"), "Photoshop (PSD)"));
  // Every accepted format still decodes.
  for (const char* f : {"rgba.png", "gray.png", "palette.png", "rgba16.png", "baseline.jpg",
                        "progressive.jpg", "rgb.bmp", "rgba.bmp", "rgba.tga", "rle.tga", "still.gif",
                        "animated.gif"}) {
    EXPECT_EQ(decode_error(corpus("image", f), f), "no error") << f;
  }
}

TEST(IoHardening, ReadImageBoundsWhatItReads) {
  const fs::path dir = fs::temp_directory_path() / ("ddpm_hardening_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  EXPECT_TRUE(contains(error_of([&] { ddpm::io::read_image(dir.string()); }), "is a folder")) ;
  EXPECT_TRUE(contains(error_of([&] { ddpm::io::read_image((dir / "missing.png").string()); }),
                       "does not exist"));
  fs::remove_all(dir);
}

TEST(IoHardening, ModelJsonNumbersOutOfRangeAreRefusedNotConverted) {
  // get<int>() / get<float>() on these was undefined behaviour (UBSan: float-cast-overflow).
  const auto huge = corpus("model_json", "regress_huge_numbers.json");
  const std::string e = json_error(std::string(huge.begin(), huge.end()));
  EXPECT_TRUE(contains(e, "field 'unet.in_channels' = 1e+300 is out of range")) << e;

  const auto good = corpus("model_json", "emoji32.json");
  const std::string text(good.begin(), good.end());
  ASSERT_EQ(json_error(text), "no error");
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    const auto at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return t.replace(at, from.size(), to);
  };
  EXPECT_TRUE(contains(json_error(with("\"guidance\": 3.0", "\"guidance\": 1e300")),
                       "field 'guidance'")) << json_error(with("\"guidance\": 3.0", "\"guidance\": 1e300"));
  EXPECT_TRUE(contains(json_error(with("\"time_dim\": 128", "\"time_dim\": 128.5")),
                       "field 'unet.time_dim' = 128.5 is not a whole number"));
  EXPECT_EQ(json_error(with("\"time_dim\": 128", "\"time_dim\": 128.0")), "no error");
  EXPECT_TRUE(contains(json_error(with("\"time_dim\": 128", "\"time_dim\": \"128\"")),
                       "field 'unet.time_dim' has the wrong type (string, not a number)"));
  EXPECT_TRUE(contains(json_error(with("\"training_step\": ", "\"training_step\": 1e30, \"x\": ")),
                       "field 'training_step' = 1e+30 is out of range"));
  EXPECT_TRUE(contains(json_error(with("\"time_dim\": 128", "\"time_dim\": 4294967296")),
                       "field 'unet.time_dim' = 4294967296 is out of range"));
}

TEST(IoHardening, DeeplyNestedModelJsonIsRefusedQuickly) {
  const auto deep = corpus("model_json", "regress_deep.json");
  EXPECT_TRUE(contains(json_error(std::string(deep.begin(), deep.end())), "nested deeper than"));
  // A million levels: refused at level 17, without a million-deep tree or recursion.
  const std::string million = "{\"a\":" + std::string(1000000, '[');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(contains(json_error(million), "nested deeper than"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(IoHardening, StaleTemporariesOfDeadWritersAreRemovedOnTheNextWrite) {
  const fs::path dir = fs::temp_directory_path() / ("ddpm_stale_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "model.safetensors").string();
  // A writer that died: a child that has exited and been reaped.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  const auto touch = [](const fs::path& p) { std::ofstream(p) << "partial"; };
  const fs::path dead = path + ".tmp." + std::to_string(child) + ".3";
  const fs::path live = path + ".tmp." + std::to_string(::getppid()) + ".0";  // our parent runs
  const fs::path other = dir / "other.safetensors.tmp.1.0";  // another file's: not ours to judge
  const fs::path odd = path + ".tmp.notapid";
  for (const auto& p : {dead, live, other, odd}) touch(p);
  ddpm::io::write_file_atomic(path, std::vector<std::uint8_t>{1, 2, 3});
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(odd));
  EXPECT_EQ(fs::file_size(path), 3u);
  fs::remove_all(dir);
}

TEST(IoHardening, LegacyCheckpointWithManyStoragesReadsInLinearTime) {
  // 20000 tensors with a storage each, in the legacy stream layout: the storage-key lookup was
  // a scan of every tensor per key (quadratic: 65536 storages meant 2 billion comparisons).
  const int n = 20000;
  std::string p;
  const auto u8 = [&](int v) { p.push_back(static_cast<char>(v)); };
  const auto u32 = [&](std::uint32_t v) { for (int i = 0; i < 4; ++i) u8(int((v >> (8 * i)) & 0xff)); };
  const auto str = [&](const std::string& s) { u8(0x8c); u8(int(s.size())); p += s; };
  const auto pickle_start = [&] { u8(0x80); u8(2); };
  // magic, protocol version, system info
  pickle_start(); u8(0x8a); u8(10); p += std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10); u8('.');
  pickle_start(); u8('M'); u8(1001 & 0xff); u8(1001 >> 8); u8('.');
  pickle_start(); u8('}'); str("little_endian"); u8(0x88); u8('s'); u8('.');
  // state_dict: {name_i: _rebuild_tensor_v2(PersistentId(('storage', FloatStorage, key_i, 'cpu', 1, None)), 0, (1,), (1,), False, OrderedDict())}
  pickle_start();
  u8('}');
  u8('c'); p += "torch._utils\n_rebuild_tensor_v2\n"; u8('q'); u8(0); u8('0');  // BINPUT keeps it on the stack: POP
  u8('c'); p += "torch\nFloatStorage\n"; u8('q'); u8(1); u8('0');
  for (int i = 0; i < n; ++i) {
    const std::string key = std::to_string(i);
    str("t" + key);
    u8('h'); u8(0);          // the function
    u8('(');                  // its arguments
    u8('(');                  // the persistent id tuple
    str("storage"); u8('h'); u8(1); str(key); str("cpu"); u8('K'); u8(1); u8('N');
    u8('t'); u8('Q');
    u8('K'); u8(0);
    u8('K'); u8(1); u8(0x85);
    u8('K'); u8(1); u8(0x85);
    u8(0x89);
    u8('}');
    u8('t'); u8('R');
    u8('s');
  }
  u8('.');
  pickle_start(); u8(']'); u8('(');
  for (int i = 0; i < n; ++i) str(std::to_string(i));
  u8('e'); u8('.');
  for (int i = 0; i < n; ++i) {
    u32(1); u32(0);  // numel as 8 bytes
    u32(0x3f800000);  // 1.0f
  }
  const auto start = std::chrono::steady_clock::now();
  const auto ckpt = ddpm::io::parse_torch_checkpoint(reinterpret_cast<const std::uint8_t*>(p.data()),
                                                     p.size(), "many.pt");
  EXPECT_EQ(ckpt.tensors.size(), std::size_t(n));
  EXPECT_EQ(ckpt.storages.size(), std::size_t(n));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
