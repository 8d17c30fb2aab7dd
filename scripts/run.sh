#!/usr/bin/env bash
# The product's main job: the studio with the default model (assets/emoji32) when there is a
# display; without one, the command-line tool generates a grid of every class instead.
# Arguments go to the studio (or, headless, to `ddpm sample`).
set -euo pipefail
cd "$(dirname "$0")/.."
# Set-up and build talk on stderr: stdout carries only the grids' paths (headless).
bash scripts/build.sh build >&2
model=assets/emoji32/model.safetensors
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x build/host/ddpm-studio ]; then
  exec ./build/host/ddpm-studio "$@"
fi
echo "run.sh: no display, so no studio; generating with the command-line tool instead" >&2
mkdir -p out/run
classes=$(./build/host/ddpm info "$model" --json | /usr/bin/python3 -c \
  'import json, sys; print(" ".join(json.load(sys.stdin)["class_names"]))')
for c in $classes; do
  ./build/host/ddpm sample "$model" --class "$c" --count 8 --sampler dpmpp2m_sde --steps 20 \
    --seed 1 --out "out/run/$c" --grid "out/run/$c.png" "$@" >/dev/null
  echo "out/run/$c.png"
done
