#!/usr/bin/env bash
# ThreadSanitizer on the plugin's job layer (issue 12): builds the core, the plugin and its
# multi-threaded C tests with clang and -fsanitize=thread in their own build folder, then runs
#   1. test_concurrency: 8 generation jobs from 4 threads, half cancelled at random moments,
#   2. test_stream: a stream's worker steered and read from other threads,
#   3. test_soak, reduced: SOAK_GEN (default 100) generation and SOAK_TRAIN (default 4) training
#      jobs started, cancelled, waited on and freed from 4 threads (after its fixed warm-up of 40
#      and 2),
#   4. test_train_local: a training job that runs rank 0 and starts ddpm_train_worker (also
#      instrumented) for rank 1, cancelled, and its worker killed,
# with halt_on_error: the first report fails the run. LibTorch and the libraries under it are
# Debian's uninstrumented builds: ignore_noninstrumented_modules makes TSan ignore the memory
# accesses of the interceptors they call (their synchronisation still counts), and
# tests/tsan/tsan.supp holds the one third-party report left (it says why, and what was seen).
# Not part of .ci/run: about 11 min to build from an empty folder and 1 to 2 min of tests on the
# shared 2-core machine (docs/robustness.md, "ThreadSanitizer").
# Environment: BUILD_DIR (default build-tsan), JOBS (ninja -j), SOAK_GEN, SOAK_TRAIN.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD_DIR:-build-tsan}
JOBS=${JOBS:-$(nproc)}
start=$SECONDS
stage() { echo "== test-tsan: $* ($((SECONDS - start)) s)"; }

# One version of the attention kernels (DDPM_CLONES empty): the target_clones resolver is an
# ifunc that the loader runs before TSan's runtime is up, and its instrumented entry crashed
# every instrumented executable at start (seen 2026-12-02: SIGSEGV in __tsan_func_entry from
# grad_range's resolver, during relocation).
stage "configure and build in $BUILD"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDDPM_SANITIZE=thread -DCMAKE_CXX_FLAGS=-DDDPM_CLONES= >/dev/null
ninja -C "$BUILD" -j "$JOBS" ddpm_plugin ddpm_plugin_make_tiny_model ddpm_plugin_test_concurrency \
  ddpm_plugin_test_stream ddpm_plugin_test_soak ddpm_plugin_test_train_local ddpm_train_worker

bin=$BUILD/plugin/tests
work=$BUILD/tsan-work
rm -rf "$work" && mkdir -p "$work"
symbolizer=$(command -v llvm-symbolizer || true)
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 ignore_noninstrumented_modules=1 suppressions=$ROOT/tests/tsan/tsan.supp${symbolizer:+ external_symbolizer_path=$symbolizer}"

# Runs one test; a TSan report (also one that did not stop the process) fails the script.
run() {
  local name=$1
  shift
  stage "$name"
  local log=$work/$name.log
  if ! "$@" >"$log" 2>&1 || grep -q "WARNING: ThreadSanitizer" "$log"; then
    tail -n 80 "$log"
    echo "test-tsan: $name failed or ThreadSanitizer reported (full log: $log)" >&2
    exit 1
  fi
  tail -n 3 "$log"
}

run make_tiny_model "$bin/ddpm_plugin_make_tiny_model" "$work/tiny.safetensors"
run concurrency "$bin/ddpm_plugin_test_concurrency" "$work/tiny.safetensors"
run stream "$bin/ddpm_plugin_test_stream" "$work/tiny.safetensors"
run soak "$bin/ddpm_plugin_test_soak" "$work/tiny.safetensors" assets/samples "$work" \
  "${SOAK_GEN:-100}" "${SOAK_TRAIN:-4}"
mkdir -p "$work/train_local"
run train_local "$bin/ddpm_plugin_test_train_local" assets/samples "$work/train_local"
stage "all passed, no ThreadSanitizer report"
