#!/usr/bin/env bash
# Builds and runs the benchmarks; results go to out/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
./build/tests/bench/ddpm_bench_sampling out/bench_sampling.json
./build/tests/bench/ddpm_bench_stream out/bench_stream.json
# The product's path: jobs and streams through the C ABI beside bare forwards, with 1 and 2
# threads, with and without a busy engine thread.
./build/tests/bench/ddpm_bench_abi out/bench_abi.json
./build/tests/bench/ddpm_bench_training out/bench_training.json
# One guided seed64 step against the reference in PyTorch (needs python3-torch).
./build/tests/bench/ddpm_bench_reference out/bench_reference.json || echo "skipping ddpm_bench_reference"
sh tests/bench/bench_distributed.sh build/host/ddpm
# Image quality of the default model with the CLI's default sampler, between the anchors of
# real held-out images and blurred copies (trains its judge once, ~5 minutes, then keeps it in
# out/quality-judge/). Needs the training folder that scripts/train-default-model.sh makes.
if [ -f assets/emoji32/model.safetensors ] && [ -d out/default-model/emoji32 ]; then
  ./build/tests/bench/ddpm_bench_quality --json out/bench_quality.json --grids out/bench_grids
else
  echo "skipping ddpm_bench_quality: needs assets/emoji32/model.safetensors and out/default-model/emoji32"
fi
