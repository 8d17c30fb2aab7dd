#include "ddpm/io/zip_reader.h"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

#include "ddpm/io/error.h"

namespace ddpm::io {
namespace {

constexpr std::uint32_t kLocalHeader = 0x04034b50;
constexpr std::uint32_t kCentralHeader = 0x02014b50;
constexpr std::uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr std::size_t kLocalHeaderSize = 30;
constexpr std::size_t kCentralHeaderSize = 46;
constexpr std::size_t kEndSize = 22;
constexpr std::size_t kMaxComment = 0xffff;

std::uint16_t u16(const std::uint8_t* p) { return std::uint16_t(p[0] | (p[1] << 8)); }
std::uint32_t u32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16) |
         (std::uint32_t(p[3]) << 24);
}

std::array<std::uint32_t, 256> crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

std::uint32_t crc32(const std::uint8_t* p, std::size_t n) {
  static const auto table = crc_table();
  std::uint32_t c = 0xffffffffu;
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

}  // namespace

const ZipEntry* ZipArchive::find(const std::string& name) const {
  for (const auto& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

bool looks_like_zip(const std::uint8_t* bytes, std::size_t size) {
  return size >= 4 && u32(bytes) == kLocalHeader;
}

ZipArchive parse_zip(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  const std::string where = "zip archive '" + name + "': ";
  const auto fail = [&](const std::string& what) { throw Error(where + what); };
  if (size < kEndSize) fail("file is " + std::to_string(size) + " bytes, too short for a zip");

  // The end record sits before a comment of at most 64 KiB; search backwards so that a
  // signature inside the comment cannot shadow the real one.
  std::size_t end = size - kEndSize;
  const std::size_t lowest = end > kMaxComment ? end - kMaxComment : 0;
  for (;; --end) {
    if (u32(bytes + end) == kEndOfCentralDirectory &&
        end + kEndSize + u16(bytes + end + 20) <= size) {
      break;
    }
    if (end == lowest) fail("no end-of-central-directory record (truncated or not a zip)");
  }
  const std::uint8_t* e = bytes + end;
  const std::size_t count = u16(e + 10);
  const std::size_t cd_size = u32(e + 12);
  const std::size_t cd_offset = u32(e + 16);
  if (u16(e + 4) != 0 || u16(e + 6) != 0 || u16(e + 8) != count) {
    fail("multi-disk archives are not supported");
  }
  // Zip64 stores its real values elsewhere and marks these fields as saturated. PyTorch only
  // needs it beyond 4 GB, which no model of this project reaches.
  if (count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    fail("zip64 archives (over 4 GB or 65535 entries) are not supported");
  }
  if (cd_offset > end || cd_size > end - cd_offset) {
    fail("central directory (" + std::to_string(cd_size) + " bytes at offset " +
         std::to_string(cd_offset) + ") runs past the end record at " + std::to_string(end));
  }

  ZipArchive zip;
  zip.bytes = bytes;
  std::set<std::string> names;
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // [local header, data end)
  const std::uint8_t* p = bytes + cd_offset;
  const std::uint8_t* const cd_end = p + cd_size;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string entry_no = "central directory entry " + std::to_string(i);
    if (std::size_t(cd_end - p) < kCentralHeaderSize || u32(p) != kCentralHeader) {
      fail(entry_no + " is missing or damaged");
    }
    const std::uint16_t flags = u16(p + 8), method = u16(p + 10);
    const std::uint32_t crc = u32(p + 16);
    const std::size_t packed = u32(p + 20), unpacked = u32(p + 24);
    const std::size_t name_len = u16(p + 28);
    const std::size_t extra_len = u16(p + 30), comment_len = u16(p + 32);
    const std::size_t local = u32(p + 42);
    if (std::size_t(cd_end - p) - kCentralHeaderSize < name_len + extra_len + comment_len) {
      fail(entry_no + " runs past the central directory");
    }
    ZipEntry entry;
    entry.name.assign(reinterpret_cast<const char*>(p + kCentralHeaderSize), name_len);
    p += kCentralHeaderSize + name_len + extra_len + comment_len;

    const std::string what = "entry '" + entry.name + "' ";
    if (!names.insert(entry.name).second) fail(what + "appears twice");
    if (flags & 1) fail(what + "is encrypted");
    if (packed == 0xffffffff || unpacked == 0xffffffff || local == 0xffffffff) {
      fail(what + "needs zip64, which is not supported");
    }
    if (method != 0) {
      fail(what + "is compressed (method " + std::to_string(method) +
           "); only stored entries, as torch.save writes them, are supported");
    }
    if (packed != unpacked) fail(what + "is stored but its two sizes differ");
    if (local > cd_offset || cd_offset - local < kLocalHeaderSize || u32(bytes + local) != kLocalHeader) {
      fail(what + "has no local header at offset " + std::to_string(local));
    }
    const std::uint8_t* h = bytes + local;
    const std::size_t local_name = u16(h + 26), local_extra = u16(h + 28);
    if (cd_offset - local - kLocalHeaderSize < local_name + local_extra) {
      fail(what + "local header runs into the central directory");
    }
    if (local_name != name_len ||
        !std::equal(h + kLocalHeaderSize, h + kLocalHeaderSize + name_len, entry.name.begin()) ||
        u16(h + 8) != method) {
      fail(what + "local header disagrees with the central directory");
    }
    entry.offset = local + kLocalHeaderSize + local_name + local_extra;
    entry.size = unpacked;
    if (entry.size > cd_offset - entry.offset) {
      fail(what + "(" + std::to_string(entry.size) + " bytes at offset " +
           std::to_string(entry.offset) + ") runs past the end of the data (" +
           std::to_string(cd_offset) + " bytes before the central directory)");
    }
    if (crc32(bytes + entry.offset, entry.size) != crc) {
      fail(what + "is corrupt: its CRC-32 does not match its data");
    }
    spans.emplace_back(local, entry.offset + entry.size);
    zip.entries.push_back(std::move(entry));
  }
  // Entries sharing bytes would let a small file pose as many large ones to whoever copies
  // them out; a real archive never does it.
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].first < spans[i - 1].second) fail("two entries overlap in the file");
  }
  return zip;
}

}  // namespace ddpm::io
