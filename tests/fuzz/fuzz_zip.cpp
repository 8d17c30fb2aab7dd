// The zip reader alone: stored entries through the central directory.
#include <cstdint>

#include "ddpm/io/error.h"
#include "ddpm/io/zip_reader.h"
#include "fuzz_common.h"

using namespace ddpm::io;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)looks_like_zip(data, size);
  ZipArchive zip;
  try {
    zip = parse_zip(data, size, "fuzz.zip");
  } catch (const ddpm::Error&) {
    return 0;
  }
  for (const auto& e : zip.entries) {
    FUZZ_CHECK(e.offset <= size && e.size <= size - e.offset);
    FUZZ_CHECK(zip.find(e.name) == &e);
    touch(zip.data(e), e.size);
  }
  return 0;
}
