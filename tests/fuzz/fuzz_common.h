#pragma once
// Shared by the fuzz targets: every parser's contract is "returns a consistent result or
// throws ddpm::Error". Any other exception escapes the target and libFuzzer reports it as a
// crash; an inconsistent result trips FUZZ_CHECK.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

// Reads every byte of a range so that AddressSanitizer sees a view that points outside the
// input; the sum goes to a volatile so the loop is not optimised away.
inline volatile unsigned fuzz_sink;
inline void touch(const void* p, std::size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  unsigned sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += b[i];
  fuzz_sink = sum;
}
