#!/usr/bin/env bash
# Few-step generation (issue 22): a student distilled from the default model against the model
# itself, in one quality run (the judge of bench_quality, anchored by real and blurred held-out
# images) and one speed run through the C ABI (ddpm_bench_abi with DDPM_STUDENT). Results:
# tests/bench/NOTES.md.
#
#   tests/bench/bench_distill.sh STUDENT [OUT_DIR]     e.g. assets/emoji32/student.safetensors
set -euo pipefail
cd "$(dirname "$0")/../.."
student=${1:?usage: bench_distill.sh STUDENT [OUT_DIR]}
out=${2:-out/distill}
base=${BASE:-assets/emoji32/model.safetensors}
mkdir -p "$out"
# Both models at the CLI's sampler on the grids the product takes (logsnr at 10 steps, tuned at
# 1 to 5) and 4 trailing steps for contrast: the model's 20 trailing steps are the targets'
# reference (4-step student images: accuracy >= 0.9x, distance <= 1.25x). SEED picks the draw.
./build/tests/bench/ddpm_bench_quality --model "$base" --model "$student" --seed "${SEED:-1000}" \
  --sampler dpmpp2m_sde:20 --sampler dpmpp2m_sde:10:logsnr --sampler dpmpp2m_sde:5:tuned \
  --sampler dpmpp2m_sde:4:tuned --sampler dpmpp2m_sde:4 --sampler dpmpp2m_sde:3:tuned \
  --sampler dpmpp2m_sde:2:tuned --sampler dpmpp2m_sde:1:tuned --json "$out/quality.json" --grids "$out/grids"
DDPM_MODEL="$base" DDPM_STUDENT="$student" ./build/tests/bench/ddpm_bench_abi "$out/abi.json"
