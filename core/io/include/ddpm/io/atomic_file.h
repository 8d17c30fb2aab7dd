#pragma once
// Atomic file replacement: write a temporary file in the same folder, flush it to disk,
// then rename it over the destination. A crash or a full disk leaves either the old file
// or the new one, never a truncated mix.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ddpm::io {

// Writes `size` bytes to `path` atomically. Throws ddpm::Error naming the path on failure;
// the destination is untouched then and the temporary file is removed.
void write_file_atomic(const std::string& path, const void* data, std::size_t size);

inline void write_file_atomic(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}

// Checks that `path` can be written later: its folder exists and is writable, and `path` is not
// itself a folder. Long jobs call it before they start, so that a typo in an output path costs
// a message, not the run's work. Throws ddpm::Error naming `what` (e.g. "model file") and the path.
void check_output_path(const std::string& path, const std::string& what);

}  // namespace ddpm::io
