#!/usr/bin/env bash
# Fine-tuning per CPU minute on a style the default model never saw (OpenMoji): each recipe
# fine-tunes assets/emoji32 on out/openmoji/full with the same time budget (`--minutes`, both
# cores, one recipe after the other), then one quality judge trained on OpenMoji scores the
# base model and every result, anchored by OpenMoji's own held-out images and blurred copies.
# Results: tests/bench/NOTES.md.
#
#   tests/bench/bench_finetune.sh MINUTES RECIPE...     e.g.  10 default fast
#   tests/bench/bench_finetune.sh score RECIPE...       scores what the runs left
#   FOLDER=out/openmoji/small tests/bench/bench_finetune.sh 5 fast   another folder
set -euo pipefail
cd "$(dirname "$0")/../.."
folder=${FOLDER:-out/openmoji/full}
base=${BASE:-assets/emoji32/model.safetensors}
runs=out/finetune/$(basename "$folder")
if [ ! -d "$folder" ]; then
  tgz=$(ls out/openmoji-*.tgz 2>/dev/null | head -1 || true)
  if [ -z "$tgz" ]; then
    (cd out && npm pack openmoji >/dev/null)
    tgz=$(ls out/openmoji-*.tgz | head -1)
  fi
  /usr/bin/python3 scripts/make-openmoji-assets.py "$tgz" out/openmoji
fi

# Until 2026-12-07 the automatic recipe trained rank-16 adapters at 2e-3, written blended at 0.85
# (`adapters`); the default-* variants below measured before then ran on it.
recipe() {
  case "$1" in
    default) echo "" ;;  # the trainer's automatic fine-tuning recipe (what `ddpm train --init` does)
    adapters) echo "--lora 16" ;;  # the automatic recipe until 2026-12-07 (its rate 2e-3 and strength 0.85 follow)
    full-lr1) echo "--lora 0 --lr 1e-3" ;;  # every weight (the default since 2026-12-07) at twice its rate
    full-lr2) echo "--lora 0 --lr 2e-3" ;;  # every weight at 4x its rate
    default-rerun) echo "" ;;  # the automatic recipe again, beside others in one period
    default-strength1) echo "--strength 1" ;;  # the automatic recipe writing its tuned weights, not blended with the base (before 2026-12-07)
    default-r32) echo "--lora 32" ;;  # the automatic recipe with wider adapters
    default-r64) echo "--lora 64" ;;  # wider adapters (0.85x the speed of rank 16, merged weights or not)
    default-full) echo "--lora 0" ;;  # the automatic recipe training every weight (its own rate: 1e-3 then, 5e-4 now)
    default-b16) echo "--batch 16" ;;  # the automatic recipe, twice the steps of half the images
    default-b64) echo "--batch 64" ;;  # the automatic recipe, half the steps of twice the images
    default-ema999) echo "--ema-decay 0.999" ;;  # the automatic recipe averaging ~1000 steps, not ~200
    default-lr3) echo "--lr 3e-3" ;;  # the automatic recipe at 1.5x its adapters' rate
    default-flip) echo "--flip" ;;  # the automatic recipe with mirrored images too
    default-lr1) echo "--lr 1e-3" ;;  # the automatic recipe at half its adapters' rate
    default-drop25) echo "--label-drop 0.25" ;;  # the unconditional branch (guidance's other half) trained on 25 % of images, not 10 %
    default-stage4) echo "" ;;  # the automatic recipe from the default model after its whole-image stage
    default-fused) echo "" ;;  # the automatic recipe with the fused channels-last training norms (2026-12-06, thirteenth)
    default-fused-bf16) echo "" ;;  # the same once those norms read and write bf16 under autocast (2026-12-06, thirteenth)
    fast) echo "--lora 0 --batch 32 --lr 1e-3 --warmup 50 --decay-from 0.5 --grad-clip 1 --flip" ;;
    fast-lr5) echo "--lora 0 --batch 32 --lr 5e-4 --warmup 50 --decay-from 0.5 --grad-clip 1 --flip" ;;
    fast-lr2) echo "--lora 0 --batch 32 --lr 2e-3 --warmup 50 --decay-from 0.5 --grad-clip 1 --flip" ;;
    lora*) # lora<RANK>[-lr<N>e-<M>]: `fast` through adapters, e.g. lora16-lr2e-3
      local rank=${1#lora}; rank=${rank%%-*}
      local lr=1e-3; [[ $1 == *-lr* ]] && lr=${1##*-lr}
      echo "--batch 32 --lr $lr --warmup 50 --decay-from 0.5 --grad-clip 1 --flip --lora $rank" ;;
    freeze) echo "--lora 0 --batch 32 --lr 1e-3 --warmup 50 --decay-from 0.5 --grad-clip 1 --flip --freeze" ;;
    *) echo "unknown recipe $1" >&2; exit 1 ;;
  esac
}

score() {
  # The base model is scored too, unless the folder has a class it lacks (the new-class case).
  local models=(--model "$base") known c
  known=" $(./build/host/ddpm info "$base" --json | /usr/bin/python3 -c \
    'import json, sys; print(" ".join(json.load(sys.stdin)["class_names"]))') "
  for c in "$folder"/*/; do
    c=$(basename "$c")
    if [[ $known != *" $c "* ]]; then
      echo "the base model has no class '$c': scoring the fine-tunes only"
      models=()
      break
    fi
  done
  for r in "$@"; do models+=(--model "$runs/$r/model.safetensors"); done
  ./build/tests/bench/ddpm_bench_quality --assets "$folder" "${models[@]}" \
    --json "$runs/quality.json" --grids "$runs/grids"
}

if [ "$1" = score ]; then
  shift
  score "$@"
  exit
fi

minutes=$1
shift
for r in "$@"; do
  mkdir -p "$runs/$r"
  # shellcheck disable=SC2046
  /usr/bin/time -f "%e s wall" ./build/host/ddpm train "$folder" --init "$base" $(recipe "$r") --seed 1 \
    --minutes "$minutes" --samples "$runs/$r/samples" --out "$runs/$r/model.safetensors" \
    > "$runs/$r/train.log" 2>&1
  echo "$r: $(grep -E '^step ' "$runs/$r/train.log" | tail -1); $(tail -1 "$runs/$r/train.log")"
done
score "$@"
