#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12's packages.
# Idempotent: when everything is present it only runs dpkg-query and exits.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp
  libdnnl-dev  # oneDNN's headers: direct channels-last convolutions (core/src/direct_conv.h)
  libgloo-dev  # headers that c10d's ProcessGroupGloo.hpp includes (core/src/distributed.cpp)
  libglfw3-dev libimgui-dev libstb-dev libjpeg-dev nlohmann-json3-dev
  python3-glad libcli11-dev libgtest-dev
  xvfb xauth libgl1-mesa-dri mesa-utils
  python3 python3-numpy python3-pil
  mono-mcs mono-runtime
  blender  # tests/engines: the Blender add-on, tested inside Blender (headless)
  love  # tests/engines: the LOVE demo (engines/love), tested inside LOVE under xvfb-run
  # scripts/test-hardening.sh: clang, libFuzzer and sanitizer runtimes, llvm-symbolizer
  clang libclang-rt-dev llvm
)
# Optional: lets the import-equivalence tests compare with PyTorch itself.
OPTIONAL=(python3-torch)

missing=()
for p in "${PKGS[@]}" "${OPTIONAL[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${PKGS[@]}"
# python3-torch is large but lets the tests compare against PyTorch; failure is not fatal.
$SUDO apt-get install -y -q --no-install-recommends "${OPTIONAL[@]}" || \
  echo "setup-deps: optional ${OPTIONAL[*]} not installed; PyTorch comparisons will be skipped" >&2
