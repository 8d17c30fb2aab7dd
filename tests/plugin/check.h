/* The failure counter and CHECK of the C tests that link the plugin: a failed condition prints
 * where, a printf-style reason and the plugin's last error, and counts; main() returns non-zero
 * when g_failures is. */
#ifndef DDPM_TEST_CHECK_H
#define DDPM_TEST_CHECK_H

#include <stdio.h>

#include "ddpm_plugin.h"

static int g_failures;

#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                   \
      fprintf(stderr, __VA_ARGS__);                                          \
      fprintf(stderr, " [last error: %s]\n", ddpm_last_error());             \
      ++g_failures;                                                          \
    }                                                                        \
  } while (0)

#endif
