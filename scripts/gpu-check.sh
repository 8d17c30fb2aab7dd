#!/usr/bin/env bash
# The GPU checks of a session that is lent one, as one script for its short device time: builds
# the CUDA tree (scripts/build-cuda.sh), runs the C ABI's device test on the default model
# (tests/plugin/test_model_params.c compiled against that plugin: a job and a stream on CUDA must
# give the CPU's images up to TF32 rounding) and times the GPU through the C ABI (ddpm_bench_abi
# with DDPM_DEVICE=cuda: jobs and streams of the model and its student). Everything lands in OUT.
#
#   scripts/build-cuda.sh --pack-deps out/cuda-deps      # here, once (header-only dependencies)
#   on the GPU machine, carrying out/cuda-deps:
#   DDPM_DEPS_PREFIX=$PWD/out/cuda-deps OUT=$OUT scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/gpu-check}
build=${BUILD_DIR:-build-cuda}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/gpu.txt" 2>&1 || true
start=$SECONDS
if ! bash scripts/build-cuda.sh "$build" >"$out/build.log" 2>&1; then
  tail -n 40 "$out/build.log"
  echo "gpu-check: the CUDA build failed (log: $out/build.log)" >&2
  exit 1
fi
echo "gpu-check: built in $((SECONDS - start)) s"
cc -std=c99 -O2 -Wall -Iplugin/include tests/plugin/test_model_params.c -L"$build/plugin" -lddpm_plugin \
  -Wl,-rpath,"$PWD/$build/plugin" -lpthread -lm -o "$build/test_model_params"
status=0
"$build/test_model_params" assets/emoji32/model.safetensors 2>&1 | tee "$out/model_params.txt" || status=1
DDPM_DEVICE=cuda DDPM_STUDENT=assets/emoji32/student.safetensors \
  "$build/tests/bench/ddpm_bench_abi" "$out/abi_cuda.json" 2>&1 | tee "$out/abi_cuda.txt" || status=1
echo "gpu-check: done in $((SECONDS - start)) s, status $status"
exit "$status"
