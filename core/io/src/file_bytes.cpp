#include "ddpm/io/file_bytes.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "ddpm/io/error.h"

namespace ddpm::io {
namespace fs = std::filesystem;

std::vector<std::uint8_t> read_file(const std::string& path, std::size_t max_size) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw Error("file '" + path + "' does not exist");
  if (fs::is_directory(status)) throw Error("'" + path + "' is a folder, not a file");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw Error("cannot open '" + path + "': " + std::strerror(errno));
  // The size comes from the open file, so a file replaced between the checks cannot slip by.
  if (std::fseek(f.get(), 0, SEEK_END) != 0) throw Error("cannot seek in '" + path + "'");
  const long end = std::ftell(f.get());
  if (end < 0) throw Error("cannot tell the size of '" + path + "'");
  const auto size = static_cast<std::size_t>(end);
  if (size > max_size) {
    throw Error("file '" + path + "' is " + std::to_string(size) + " bytes, more than the " +
                std::to_string(max_size) + " allowed");
  }
  std::rewind(f.get());
  std::vector<std::uint8_t> bytes(size);
  if (size > 0 && std::fread(bytes.data(), 1, size, f.get()) != size) {
    throw Error("cannot read '" + path + "': it ended before " + std::to_string(size) + " bytes");
  }
  return bytes;
}

}  // namespace ddpm::io
