#!/usr/bin/env bash
# Sets up, builds and runs every test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
cd build
# One test at a time: each torch test already uses every core, and OpenMP threads of two
# processes fighting over 2 cores slow a training test down tenfold.
ctest --output-on-failure "$@"
