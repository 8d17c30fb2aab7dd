#!/usr/bin/env bash
# Trains the default model's folder with one named recipe for a fixed number of steps on one
# thread, so that recipes run side by side on a 2-core machine at equal CPU minutes, then
# scores each model with ddpm_bench_quality (one judge for all). Results: tests/bench/NOTES.md.
#
#   tests/bench/compare_recipes.sh STEPS RECIPE...    e.g.  1000 base minsnr v2 v2-minsnr
#   tests/bench/compare_recipes.sh score RECIPE...    scores out/recipes/RECIPE/model.safetensors
set -euo pipefail
cd "$(dirname "$0")/../.."
folder=out/default-model/emoji32
[ -d "$folder" ] || { echo "build $folder first: scripts/train-default-model.sh does" >&2; exit 1; }

# What every recipe shares: the default model's schedule, with an EMA that averages from the
# start (short runs would otherwise end on a copy of the raw weights).
common=(--batch 64 --lr 6e-4 --warmup 200 --decay-from 0.5 --grad-clip 1 --flip --seed 1
        --ema-decay 0.999 --ema-start 0 --ema-warmup --threads 1)
recipe() {
  case "$1" in
    base) echo "--preset sprite32" ;;
    minsnr) echo "--preset sprite32 --snr-gamma 5" ;;
    v2) echo "--preset sprite32v2" ;;
    v2-minsnr) echo "--preset sprite32v2 --snr-gamma 5" ;;
    *) echo "unknown recipe $1" >&2; exit 1 ;;
  esac
}

if [ "$1" = score ]; then
  shift
  models=()
  for r in "$@"; do models+=(--model "out/recipes/$r/model.safetensors"); done
  exec ./build/tests/bench/ddpm_bench_quality "${models[@]}" --json out/recipes/quality.json --grids out/recipes/grids
fi

steps=$1
shift
for r in "$@"; do
  mkdir -p "out/recipes/$r"
  # shellcheck disable=SC2046
  ( /usr/bin/time -f "%U user %S sys %e wall" ./build/host/ddpm train "$folder" $(recipe "$r") "${common[@]}" \
      --steps "$steps" --out "out/recipes/$r/model.safetensors" --checkpoint "out/recipes/$r/checkpoint.pt" \
      --checkpoint-every 200 > "out/recipes/$r/train.log" 2>&1 ) &
done
wait
for r in "$@"; do echo "$r: $(tail -1 "out/recipes/$r/train.log")"; done
