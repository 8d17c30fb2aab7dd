#!/usr/bin/env bash
# The product's main job. Until the plugin and the studio exist it is the core demo: it trains
# a small class-conditional model on assets/samples and writes a sample grid to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
./build/core/ddpm_demo "$@"
