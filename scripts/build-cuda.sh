#!/usr/bin/env bash
# Builds the core, the plugin, the CLI and the benchmarks against the CUDA LibTorch that comes
# with this machine's PyTorch (`pip install torch`), for training and sampling on a GPU. Needs
# CMake, Ninja, a C++17 compiler and the CUDA toolkit; no Debian packages: the header-only
# dependencies (nlohmann-json, CLI11, stb) come from DDPM_DEPS_PREFIX when the system has none.
#
#   scripts/build-cuda.sh --pack-deps DIR   # on a Debian machine: copy those headers to DIR
#   DDPM_DEPS_PREFIX=DIR scripts/build-cuda.sh [BUILD_DIR]   # on the GPU machine (build-cuda)
#   build-cuda/host/ddpm train FOLDER --device cuda ...
#
# The studio and the tests are not built; data-parallel training is off (the wheel's headers
# need not carry Gloo). Model files and checkpoints written there load on the CPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --pack-deps ]; then
  dir=${2:?usage: build-cuda.sh --pack-deps DIR}
  mkdir -p "$dir/include" "$dir/share/cmake"
  cp -r /usr/include/nlohmann /usr/include/CLI /usr/include/stb "$dir/include/"
  cp -r /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$dir/share/cmake/"
  echo "build-cuda: headers copied to $dir"
  exit 0
fi
build=${1:-build-cuda}
py=${PYTHON:-python3}
torch_prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
deps=${DDPM_DEPS_PREFIX:-}
extra=()
if command -v nvcc >/dev/null; then extra+=(-DCMAKE_CUDA_COMPILER="$(command -v nvcc)"); fi
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DDDPM_BUILD_TESTS=OFF -DDDPM_BUILD_BENCH=ON -DDDPM_WITH_DISTRIBUTED=OFF \
    -DCMAKE_PREFIX_PATH="$torch_prefix${deps:+;$deps}" ${deps:+-DDDPM_STB_DIR="$deps/include"} \
    -DCMAKE_CUDA_ARCHITECTURES=native -DTORCH_CUDA_ARCH_LIST="$("$py" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())' 2>/dev/null || echo 9.0)" \
    "${extra[@]}"
fi
cmake --build "$build" --target ddpm_cli ddpm_plugin ddpm_bench_sampling ddpm_bench_abi
