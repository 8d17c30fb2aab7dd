// PyTorch checkpoints without Python or LibTorch: files written by torch.save in both formats
// (tests/fixtures/make_torch_checkpoints.py), compared with the sidecars written beside them,
// and hostile or damaged files refused by name.
#include <gtest/gtest.h>

#include "error_of.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>

#include "ddpm/io/error.h"
#include "ddpm/io/file_bytes.h"
#include "ddpm/io/pickle_reader.h"
#include "ddpm/io/torch_checkpoint.h"
#include "ddpm/io/zip_reader.h"

using ddpm::io::DType;

namespace {

const std::string kDir = std::string(DDPM_SOURCE_DIR) + "/tests/fixtures/torch/";

using ddpm::testing::error_of;

std::vector<std::uint8_t> fixture(const std::string& file) {
  return ddpm::io::read_file(kDir + file, 1 << 20);
}

std::string parse_error(const std::vector<std::uint8_t>& bytes, const std::string& name = "bad.pt") {
  return error_of([&] { ddpm::io::parse_torch_checkpoint(bytes.data(), bytes.size(), name); });
}

double half_to_double(std::uint16_t h) {
  const int exponent = (h >> 10) & 31, mantissa = h & 1023;
  const double sign = (h & 0x8000) ? -1 : 1;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return mantissa ? NAN : sign * INFINITY;
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

double element(DType dtype, const std::uint8_t* p) {
  switch (dtype) {
    case DType::F32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::F64: { double v; std::memcpy(&v, p, 8); return v; }
    case DType::F16: { std::uint16_t v; std::memcpy(&v, p, 2); return half_to_double(v); }
    case DType::BF16: {
      std::uint32_t bits = std::uint32_t(p[0]) << 16 | std::uint32_t(p[1]) << 24;
      float v;
      std::memcpy(&v, &bits, 4);
      return v;
    }
    case DType::I64: { std::int64_t v; std::memcpy(&v, p, 8); return double(v); }
    case DType::I32: { std::int32_t v; std::memcpy(&v, p, 4); return v; }
    case DType::I16: { std::int16_t v; std::memcpy(&v, p, 2); return v; }
    case DType::I8: return static_cast<std::int8_t>(p[0]);
    case DType::U8:
    case DType::Bool: return p[0];
  }
  return NAN;
}

// The tensor's elements in row-major order, gathered through its stride and offset.
std::vector<double> values_of(const ddpm::io::CheckpointTensor& t, const ddpm::io::TorchCheckpoint& c) {
  const auto& storage = c.storages.at(t.storage_key);
  std::int64_t numel = 1;
  for (const auto d : t.shape) numel *= d;
  std::vector<double> out;
  std::vector<std::int64_t> index(t.shape.size(), 0);
  for (std::int64_t n = 0; n < numel; ++n) {
    std::int64_t at = t.storage_offset;
    for (std::size_t d = 0; d < index.size(); ++d) at += index[d] * t.stride[d];
    out.push_back(element(t.dtype, storage.data() + std::size_t(at) * ddpm::io::dtype_size(t.dtype)));
    for (std::size_t d = index.size(); d-- > 0;) {
      if (++index[d] < t.shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

void expect_matches_sidecar(const std::string& file, const std::string& sidecar) {
  SCOPED_TRACE(file);
  const auto ckpt = ddpm::io::read_torch_checkpoint(kDir + file);
  const auto bytes = fixture(sidecar);
  const auto expected = nlohmann::json::parse(bytes.begin(), bytes.end())["tensors"];
  ASSERT_EQ(ckpt.tensors.size(), expected.size());
  std::map<std::string, std::string> key_of_group;
  std::set<std::string> keys;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& e = expected[i];
    const auto& t = ckpt.tensors[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, e["name"].get<std::string>());
    EXPECT_EQ(ddpm::io::to_string(t.dtype), e["dtype"].get<std::string>());
    EXPECT_EQ(t.shape, e["shape"].get<std::vector<std::int64_t>>());
    EXPECT_EQ(t.stride, e["stride"].get<std::vector<std::int64_t>>());
    EXPECT_EQ(t.storage_offset, e["offset"].get<std::int64_t>());
    EXPECT_EQ(values_of(t, ckpt), e["values"].get<std::vector<double>>());
    // Entries that shared a storage in Python share one here, and only those.
    const auto [it, fresh] = key_of_group.emplace(e["storage_group"].get<std::string>(), t.storage_key);
    EXPECT_EQ(it->second, t.storage_key);
    if (fresh) {
      EXPECT_TRUE(keys.insert(t.storage_key).second);
    }
  }
  EXPECT_EQ(ckpt.storages.size(), keys.size());
}

TEST(TorchCheckpoint, ZipFormatMatchesWhatPyTorchSaved) {
  expect_matches_sidecar("mixed.pt", "mixed.json");
  expect_matches_sidecar("module.pt", "module.json");
}

TEST(TorchCheckpoint, LegacyFormatMatchesWhatPyTorchSaved) {
  expect_matches_sidecar("mixed_legacy.pt", "mixed.json");
  expect_matches_sidecar("module_legacy.pt", "module.json");
}

TEST(TorchCheckpoint, HostileFilesAreRefusedByName) {
  const std::string system = parse_error(fixture("os_system.pt"), "os_system.pt");
  EXPECT_NE(system.find("global 'os.system' is not allowed"), std::string::npos) << system;
  EXPECT_NE(system.find("os_system.pt"), std::string::npos) << system;

  const std::string cut = parse_error(fixture("truncated_storage.pt"));
  EXPECT_NE(cut.find("record 'mixed/data/0' holds 20 bytes"), std::string::npos) << cut;
  EXPECT_NE(cut.find("truncated"), std::string::npos) << cut;

  const std::string beyond = parse_error(fixture("beyond_storage.pt"));
  EXPECT_NE(beyond.find("tensor 'w' (F32 shape [2, 2], stride [2, 1], offset 3) reaches past its "
                        "storage '0' of 4 elements"),
            std::string::npos)
      << beyond;

  const std::string epoch = parse_error(fixture("not_a_tensor.pt"));
  EXPECT_NE(epoch.find("entry 'epoch' is a int, not a tensor"), std::string::npos) << epoch;

  const std::vector<std::uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
  EXPECT_NE(parse_error(text).find("not a PyTorch checkpoint"), std::string::npos);
  EXPECT_NE(parse_error({}).find("not a PyTorch checkpoint"), std::string::npos);
  EXPECT_NE(error_of([] { ddpm::io::read_torch_checkpoint(kDir + "missing.pt"); }).find("does not exist"),
            std::string::npos);
}

TEST(TorchCheckpoint, DamagedZipStructuresAreRefused) {
  const auto good = fixture("mixed.pt");
  const auto zip = ddpm::io::parse_zip(good.data(), good.size(), "mixed.pt");
  ASSERT_NE(zip.find("mixed/data.pkl"), nullptr);
  ASSERT_NE(zip.find("mixed/version"), nullptr);
  const auto* record = zip.find("mixed/data/0");
  ASSERT_NE(record, nullptr);

  std::vector<std::uint8_t> half(good.begin(), good.begin() + std::ptrdiff_t(good.size() / 2));
  EXPECT_NE(parse_error(half).find("no end-of-central-directory record"), std::string::npos);

  auto flipped = good;
  flipped[record->offset + 1] ^= 0x40;
  EXPECT_NE(parse_error(flipped).find("entry 'mixed/data/0' is corrupt: its CRC-32"), std::string::npos);

  // Patch the first central directory entry (data.pkl) in place.
  std::size_t eocd = good.size() - 22;
  while (!(good[eocd] == 'P' && good[eocd + 1] == 'K' && good[eocd + 2] == 5 && good[eocd + 3] == 6)) --eocd;
  const std::size_t cd = good[eocd + 16] | good[eocd + 17] << 8 | good[eocd + 18] << 16 | good[eocd + 19] << 24;
  auto deflated = good;
  deflated[cd + 10] = 8;
  EXPECT_NE(parse_error(deflated).find("entry 'mixed/data.pkl' is compressed (method 8)"), std::string::npos);
  auto huge = good;
  for (const std::size_t field : {cd + 20, cd + 24}) {
    huge[field] = 0x00, huge[field + 1] = 0x00, huge[field + 2] = 0x00, huge[field + 3] = 0x7f;
  }
  EXPECT_NE(parse_error(huge).find("runs past the end of the data"), std::string::npos) << parse_error(huge);
  auto zip64 = good;
  zip64[eocd + 16] = zip64[eocd + 17] = zip64[eocd + 18] = zip64[eocd + 19] = 0xff;
  EXPECT_NE(parse_error(zip64).find("zip64"), std::string::npos);
  auto elsewhere = good;
  elsewhere[cd + 42] ^= 0x10;
  EXPECT_NE(parse_error(elsewhere).find("no local header"), std::string::npos) << parse_error(elsewhere);
}

TEST(TorchCheckpoint, TruncatedLegacyFilesAreRefused) {
  const auto good = fixture("mixed_legacy.pt");
  const std::vector<std::uint8_t> short_tail(good.begin(), good.end() - 3);
  EXPECT_NE(parse_error(short_tail).find("remain (truncated)"), std::string::npos) << parse_error(short_tail);
  const std::vector<std::uint8_t> in_pickle(good.begin(), good.begin() + 300);
  EXPECT_NE(parse_error(in_pickle).find("truncated"), std::string::npos) << parse_error(in_pickle);
}

TEST(TorchCheckpoint, DamagedCopiesNeverCrash) {
  for (const char* file : {"mixed.pt", "mixed_legacy.pt", "module_legacy.pt"}) {
    const auto good = fixture(file);
    for (std::size_t n = 0; n < good.size(); n += 7) {
      const std::vector<std::uint8_t> cut(good.begin(), good.begin() + std::ptrdiff_t(n));
      EXPECT_NE(parse_error(cut), "no error") << file << " truncated to " << n;
    }
    for (std::size_t i = 0; i < good.size(); ++i) {
      for (const std::uint8_t x : {0x01, 0x80, 0xff}) {
        auto bad = good;
        bad[i] ^= x;
        parse_error(bad);  // accepted or refused with ddpm::Error; never a crash
      }
    }
  }
}

// The restricted unpickler on its own, with pickles written opcode by opcode. Literals go
// through raw() so that embedded zero bytes are kept.
template <std::size_t N>
std::string raw(const char (&s)[N]) {
  return std::string(s, N - 1);
}

ddpm::io::Pickle unpickle(const std::string& bytes, const std::set<std::string>& allowed = {}) {
  return ddpm::io::read_pickle(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(),
                               allowed, "test.pkl");
}

std::string unpickle_error(const std::string& bytes, const std::set<std::string>& allowed = {}) {
  return error_of([&] { unpickle(bytes, allowed); });
}

TEST(RestrictedPickle, BuildsDataWithoutRunningAnything) {
  // {'a': 1, 'b': (None, True, 2.5, -3, 'x')} through memo, MARK and SETITEMS.
  const std::string dict = raw("\x80\x02}q\x00(X\x01\x00\x00\x00" "aK\x01X\x01\x00\x00\x00" "b") +
                           raw("(N\x88G\x40\x04\x00\x00\x00\x00\x00\x00J\xfd\xff\xff\xff\x8c\x01xtu.");
  const auto p = unpickle(dict);
  const auto& root = p[p.root];
  ASSERT_EQ(root.kind, ddpm::io::PyKind::Dict);
  ASSERT_EQ(root.entries.size(), 2u);
  EXPECT_EQ(p[root.entries[0].second].integer, 1);
  const auto& tuple = p[root.entries[1].second];
  ASSERT_EQ(tuple.items.size(), 5u);
  EXPECT_EQ(p[tuple.items[0]].kind, ddpm::io::PyKind::None);
  EXPECT_EQ(p[tuple.items[1]].integer, 1);
  EXPECT_EQ(p[tuple.items[2]].real, 2.5);
  EXPECT_EQ(p[tuple.items[3]].integer, -3);
  EXPECT_EQ(p[tuple.items[4]].text, "x");
  EXPECT_EQ(p.end, dict.size());

  // A list that contains itself: fine as a graph of indices.
  const auto cycle = unpickle(raw("\x80\x02]q\x00h\x00" "a."));
  EXPECT_EQ(cycle[cycle.root].items, std::vector<std::size_t>{cycle.root});

  // REDUCE on an allowed global is recorded, not called.
  const auto call = unpickle("\x80\x02" "cm\nf\nK\x07\x85R.", {"m.f"});
  EXPECT_EQ(call[call.root].kind, ddpm::io::PyKind::Call);
  EXPECT_EQ(call[call.root].text, "m.f");
  EXPECT_EQ(call[call[call.root].items.at(0)].kind, ddpm::io::PyKind::Tuple);
  // LONG1 beyond 64 bits stays raw; within 64 bits it is sign-extended.
  EXPECT_EQ(unpickle(raw("\x80\x02\x8a\x02\x00\x80."))[0].integer, -32768);
}

TEST(RestrictedPickle, RefusesGlobalsAndOpcodesByName) {
  EXPECT_NE(unpickle_error("\x80\x02" "c__builtin__\ngetattr\n.").find("global '__builtin__.getattr' is not allowed"),
            std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93.").find("global 'builtins.eval'"),
            std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02" "cos\nsystem\n.", {"collections.OrderedDict"}).find("'os.system'"),
            std::string::npos);
  EXPECT_NE(unpickle_error("(ios\nsystem\n.").find("opcode INST (0x69) is not supported"), std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02\xff.").find("unknown opcode 0xff"), std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02" "I1\n.").find("opcode INT"), std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02h\x05.").find("memo key 5 was never stored"), std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02X\xff\xff\xff\x7f").find("truncated"), std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02").find("truncated"), std::string::npos);
  EXPECT_NE(unpickle_error(std::string("\x80\x02" "a.")).find("APPEND on an empty stack"), std::string::npos);
  EXPECT_NE(unpickle_error(std::string("\x80\x02" "K\x01" "K\x02.")).find("instead of one object"),
            std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x02" + std::string(5000, '(') + "N.").find("MARKs nested deeper"),
            std::string::npos);
  EXPECT_NE(unpickle_error("\x80\x09N.").find("protocol 9"), std::string::npos);
  EXPECT_NE(unpickle_error(std::string("\x80\x02" "K\x01" ")R.")).find("REDUCE needs the callable to be a global"),
            std::string::npos);
  EXPECT_NE(unpickle_error(std::string("\x80\x02]K\x01" "b.")).find("BUILD needs the state to be a dict"),
            std::string::npos);
}

}  // namespace
