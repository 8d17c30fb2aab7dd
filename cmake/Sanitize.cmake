# Sanitizer and fuzzing builds.
#
#   -DDDPM_SANITIZE=address,undefined   ASan + UBSan on every target (core, plugin, hosts, tests)
#   -DDDPM_SANITIZE=thread              TSan, for the plugin's job layer
#   -DDDPM_FUZZ=ON                      libFuzzer targets in tests/fuzz (clang only); everything
#                                       else is compiled with -fsanitize=fuzzer-no-link so that
#                                       the parsers report coverage to the fuzzer
#
# Both also compile stb from its headers (core/io/src/stb_impl.c) instead of linking Debian's
# prebuilt libstb, so that the image decoders run instrumented too.
set(DDPM_SANITIZE "" CACHE STRING "Comma-separated sanitizers for every target, e.g. address,undefined or thread")
option(DDPM_FUZZ "Build the libFuzzer targets of tests/fuzz (needs clang)" OFF)

if(DDPM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "DDPM_FUZZ=ON needs clang (CC=clang CXX=clang++)")
  endif()
  if(NOT DDPM_SANITIZE)
    set(DDPM_SANITIZE "address,undefined" CACHE STRING "" FORCE)
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(DDPM_SANITIZE)
  message(STATUS "Sanitizers: ${DDPM_SANITIZE}")
  # -fno-sanitize-recover: a UBSan finding fails the test instead of printing a line nobody
  # reads. Frame pointers and -g give readable stacks.
  add_compile_options(-fsanitize=${DDPM_SANITIZE} -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${DDPM_SANITIZE} -fno-sanitize-recover=all)
  set(DDPM_BUNDLED_STB ON CACHE BOOL "" FORCE)
endif()
