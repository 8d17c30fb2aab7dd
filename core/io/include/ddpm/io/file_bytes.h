#pragma once
// Whole-file reads for the parsers, which all take bytes in memory.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ddpm::io {

// Reads a whole file. Throws ddpm::Error naming the path when it is missing, is a folder,
// cannot be read, or holds more than `max_size` bytes (checked before anything is allocated).
std::vector<std::uint8_t> read_file(const std::string& path, std::size_t max_size);

}  // namespace ddpm::io
