// safetensors without LibTorch: round trips, hand-written files, and every hostile header
// refused with a message that names the problem.
#include <gtest/gtest.h>

#include "error_of.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

#include "ddpm/io/error.h"
#include "ddpm/io/safetensors.h"

namespace fs = std::filesystem;
using ddpm::io::DType;

namespace {

using ddpm::testing::error_of;

// A file as the format lays it out: the header length, the header, the data.
std::vector<std::uint8_t> file_of(const std::string& header, std::size_t data_size,
                                  std::uint64_t length_field = ~std::uint64_t(0)) {
  const std::uint64_t n = length_field == ~std::uint64_t(0) ? header.size() : length_field;
  std::vector<std::uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  for (const char c : header) out.push_back(static_cast<std::uint8_t>(c));
  for (std::size_t i = 0; i < data_size; ++i) out.push_back(static_cast<std::uint8_t>(i * 7));
  return out;
}

std::string parse_error(const std::vector<std::uint8_t>& bytes) {
  return error_of([&] { ddpm::io::parse_safetensors(bytes.data(), bytes.size(), "bad.safetensors"); });
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

TEST(Safetensors, RoundTripKeepsOrderShapesBytesAndMetadata) {
  const std::vector<float> w = {1.5f, -2.f, 3.25f, 0.f, 1e-3f, -7.f};
  const std::vector<std::int64_t> step = {42};
  const std::vector<std::uint8_t> flags = {1, 0, 1};
  const std::vector<std::uint16_t> half = {0x3c00, 0xc000};
  const std::map<std::string, std::string> meta = {{"format", "ddpm"}, {"note", "héllo \"q\""}};
  const auto bytes = ddpm::io::encode_safetensors(
      {{"w", DType::F32, {2, 3}, w.data(), w.size() * 4},
       {"step", DType::I64, {}, step.data(), 8},
       {"flags", DType::Bool, {3}, flags.data(), 3},
       {"half", DType::F16, {2, 1}, half.data(), 4},
       {"none", DType::F32, {0, 5}, nullptr, 0}},
      meta);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  EXPECT_EQ(n % 8, 0u) << "header padded so that the data stays aligned";
  EXPECT_EQ(bytes[8], '{');

  const auto view = ddpm::io::parse_safetensors(bytes.data(), bytes.size(), "mem");
  EXPECT_EQ(view.metadata, meta);
  ASSERT_EQ(view.tensors.size(), 5u);
  const std::vector<std::string> order = {"w", "step", "flags", "half", "none"};
  for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(view.tensors[i].name, order[i]);
  const auto* t = view.find("w");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F32);
  EXPECT_EQ(t->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(0, std::memcmp(view.bytes_of(*t), w.data(), 24));
  EXPECT_EQ(view.find("step")->shape.size(), 0u);
  EXPECT_EQ(0, std::memcmp(view.bytes_of(*view.find("step")), step.data(), 8));
  EXPECT_EQ(0, std::memcmp(view.bytes_of(*view.find("half")), half.data(), 4));
  EXPECT_EQ(view.find("flags")->dtype, DType::Bool);
  EXPECT_EQ(view.find("none")->begin, view.find("none")->end);
  EXPECT_EQ(view.find("missing"), nullptr);

  const auto empty = ddpm::io::encode_safetensors({}, {});
  EXPECT_TRUE(ddpm::io::parse_safetensors(empty.data(), empty.size(), "empty").tensors.empty());
}

TEST(Safetensors, HandWrittenFileIsReadInOffsetOrder) {
  // Header order differs from data order, with padding spaces as the reference writes them.
  const std::string header = "{\"__metadata__\":{\"format\":\"pt\"}," +
                             entry("b", "U8", "[2]", "[4,6]") + "," +
                             entry("a", "F32", "[1,1]", "[0,4]") + "," +
                             entry("c", "BF16", "[1]", "[6,8]") + "}    ";
  const auto bytes = file_of(header, 8);
  const auto view = ddpm::io::parse_safetensors(bytes.data(), bytes.size(), "hand");
  ASSERT_EQ(view.tensors.size(), 3u);
  EXPECT_EQ(view.tensors[0].name, "a");
  EXPECT_EQ(view.tensors[1].name, "b");
  EXPECT_EQ(view.tensors[2].dtype, DType::BF16);
  EXPECT_EQ(view.metadata.at("format"), "pt");
  EXPECT_EQ(view.data_size, 8u);
  EXPECT_EQ(view.bytes_of(view.tensors[1])[0], 4 * 7);
}

TEST(Safetensors, HostileHeadersAreRefusedByName) {
  const auto ok = [](const std::string& e) { return entry("a", "F32", "[1]", "[0,4]") + e; };
  struct Case {
    std::vector<std::uint8_t> bytes;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{1, 0, 0}, "too short for the 8-byte header length"},
      {file_of("{}", 0, 1), "header length 1 is too small"},
      {file_of("{}", 0, 3000), "header length 3000 runs past the end of the file"},
      {file_of("{}", 0, 200'000'000), "above the limit"},
      {file_of("{}", 0, ~std::uint64_t(0) - 1), "above the limit"},
      {file_of("[1,2]", 0), "header is not a JSON object"},
      {file_of("\"text\"", 0), "header is not a JSON object"},
      {file_of(std::string(5000, '[') + std::string(5000, ']'), 0), "header is not a JSON object"},
      {file_of("{\"a\":", 0), "header is not valid JSON"},
      {file_of("{} x", 0), "header is not valid JSON"},
      {file_of("{\"a\":5}", 0), "tensor 'a' entry is not an object"},
      {file_of("{\"a\":[]}", 0), "tensor 'a' entry is not an object"},
      {file_of("{" + entry("a", "F33", "[1]", "[0,4]") + "}", 4), "unknown or unsupported dtype 'F33'"},
      {file_of("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "dtype is not a string"},
      {file_of("{" + entry("a", "F32", "[-2]", "[0,4]") + "}", 4), "shape has a negative entry -2"},
      {file_of("{" + entry("a", "F32", "[1.5]", "[0,4]") + "}", 4), "shape has a non-integer entry 1.5"},
      {file_of("{" + entry("a", "F32", "[\"1\"]", "[0,4]") + "}", 4), "shape holds something other"},
      {file_of("{" + entry("a", "F32", "[[[[1]]]]", "[0,4]") + "}", 4), "shape holds something other"},
      {file_of("{" + entry("a", "F32", "{}", "[0,4]") + "}", 4), "shape is not an array"},
      {file_of("{" + entry("a", "F32", "[99999999999999999999]", "[0,4]") + "}", 4), "non-integer"},
      {file_of("{" + entry("a", "U8", "[4611686018427387904,4611686018427387904]", "[0,4]") + "}", 4),
       "overflows the byte count"},
      {file_of("{" + entry("a", "F32", "[1]", "[0]") + "}", 4), "exactly two integers"},
      {file_of("{" + entry("a", "F32", "[1]", "[0,4,8]") + "}", 4), "more than two entries"},
      {file_of("{" + entry("a", "F32", "[1]", "[0,-4]") + "}", 4), "data_offsets has a negative entry"},
      {file_of("{" + entry("a", "F32", "[25]", "[0,100]") + "}", 8), "outside the data section of 8 bytes"},
      {file_of("{" + entry("a", "U8", "[0]", "[4,0]") + "}", 8), "outside the data section"},
      {file_of("{" + entry("a", "F32", "[2]", "[0,4]") + "}", 4), "hold 4 bytes but F32 [2] needs 8"},
      {file_of("{" + entry("a", "F16", "[3]", "[0,4]") + "}", 4), "hold 4 bytes but F16 [3] needs 6"},
      {file_of("{" + ok(",") + entry("b", "F32", "[1]", "[2,6]") + "}", 6), "tensor 'b' overlaps tensor 'a'"},
      {file_of("{" + ok(",") + entry("b", "F32", "[1]", "[0,4]") + "}", 4), "overlaps"},
      {file_of("{" + ok(",") + entry("b", "F32", "[1]", "[6,10]") + "}", 10), "data bytes 4 to 6 belong to no tensor"},
      {file_of("{" + entry("a", "F32", "[1]", "[4,8]") + "}", 8), "data bytes 0 to 4 belong to no tensor"},
      {file_of("{" + ok("") + "}", 8), "data section is 8 bytes but the tensors cover 4"},
      {file_of("{" + ok(",") + ok("") + "}", 4), "key 'a' appears twice"},
      {file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "tensor 'a' has no data_offsets"},
      {file_of("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", 4), "field 'dtype' appears twice"},
      {file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4),
       "unknown field 'x'"},
      {file_of("{\"__metadata__\":{\"k\":1}}", 0), "metadata value for 'k' is not a string"},
      {file_of("{\"__metadata__\":{\"k\":{\"deep\":\"x\"}}}", 0), "metadata value for 'k' is not a string"},
      {file_of("{\"__metadata__\":[\"k\"]}", 0), "__metadata__ is not an object of strings"},
      {file_of("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0), "metadata key 'k' appears twice"},
      {file_of("{\"a\":{\"dtype\":\"\xff\"}}", 0), "not valid JSON"},
  };
  for (const auto& c : cases) {
    const std::string e = parse_error(c.bytes);
    EXPECT_NE(e.find("'bad.safetensors'"), std::string::npos) << e;
    EXPECT_NE(e.find(c.expected), std::string::npos) << "expected '" << c.expected << "' in: " << e;
  }
}

TEST(Safetensors, DamagedCopiesNeverCrash) {
  std::vector<float> w(16, 0.5f);
  const auto good = ddpm::io::encode_safetensors(
      {{"w", DType::F32, {4, 4}, w.data(), 64}, {"b", DType::F32, {16}, w.data(), 64}},
      {{"k", "v"}});
  for (std::size_t n = 0; n < good.size(); ++n) {
    const std::vector<std::uint8_t> cut(good.begin(), good.begin() + std::ptrdiff_t(n));
    EXPECT_NE(parse_error(cut), "no error") << "truncated to " << n;
  }
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (const std::uint8_t x : {0x01, 0x20, 0x80, 0xff}) {
      auto bad = good;
      bad[i] ^= x;
      parse_error(bad);  // either accepted or refused with ddpm::Error; never a crash
    }
  }
}

TEST(Safetensors, EncodeRefusesInconsistentTensors) {
  const std::vector<float> w(4, 1.f);
  EXPECT_NE(error_of([&] {
              ddpm::io::encode_safetensors({{"w", DType::F32, {3}, w.data(), 16}}, {});
            }).find("has 16 bytes, but F32 [3] needs 12"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ddpm::io::encode_safetensors(
                  {{"w", DType::F32, {4}, w.data(), 16}, {"w", DType::F32, {4}, w.data(), 16}}, {});
            }).find("twice"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ddpm::io::encode_safetensors({{"__metadata__", DType::U8, {0}, nullptr, 0}}, {});
            }).find("__metadata__"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ddpm::io::encode_safetensors({{"w", DType::F32, {-1}, w.data(), 16}}, {});
            }).find("invalid shape [-1]"),
            std::string::npos);
}

TEST(Safetensors, ReadFileNamesMissingFoldersAndOversizedFiles) {
  const fs::path dir = fs::temp_directory_path() / ("ddpm_st_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string file = (dir / "x.bin").string();
  std::ofstream(file, std::ios::binary) << "0123456789";
  EXPECT_EQ(ddpm::io::read_file(file, 10).size(), 10u);
  EXPECT_NE(error_of([&] { ddpm::io::read_file(file, 9); }).find("is 10 bytes, more than the 9 allowed"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ddpm::io::read_file((dir / "nope").string(), 10); }).find("does not exist"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ddpm::io::read_file(dir.string(), 10); }).find("is a folder"),
            std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
