#!/usr/bin/env bash
# Builds and runs the benchmarks; results go to out/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
./build/tests/bench/ddpm_bench_sampling out/bench_sampling.json
./build/tests/bench/ddpm_bench_training out/bench_training.json
