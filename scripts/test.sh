#!/usr/bin/env bash
# Sets up, builds and runs every test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
