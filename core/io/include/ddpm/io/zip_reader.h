#pragma once
// A reader for the zip archives PyTorch writes: stored (uncompressed) entries, found through
// the central directory, every offset and size bounded by the file, every CRC checked.
// It copies nothing; entries are ranges of the caller's bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ddpm::io {

struct ZipEntry {
  std::string name;
  std::size_t offset = 0;  // of the entry's data in the archive bytes
  std::size_t size = 0;
};

struct ZipArchive {
  std::vector<ZipEntry> entries;  // in central-directory order
  const std::uint8_t* bytes = nullptr;

  const ZipEntry* find(const std::string& name) const;  // nullptr when absent
  const std::uint8_t* data(const ZipEntry& entry) const { return bytes + entry.offset; }
};

// Throws ddpm::Error naming `name` and the problem: no end-of-central-directory record,
// zip64 or multi-disk archives, compressed or encrypted entries, duplicate names, entries
// that run past the file or overlap one another, CRC mismatches.
ZipArchive parse_zip(const std::uint8_t* bytes, std::size_t size, const std::string& name);

// True when the bytes start like a zip archive (a local file header).
bool looks_like_zip(const std::uint8_t* bytes, std::size_t size);

}  // namespace ddpm::io
