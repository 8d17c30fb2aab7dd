#!/usr/bin/env bash
# Rebuilds the default model, assets/emoji32/model.safetensors, from scratch: fetches the emoji
# package with npm (or uses the .tgz given as $1), builds the 32x32 training folder (nine
# categories, 1906 images) and trains with the project's own trainer through the CLI.
#
# Resumable: the run checkpoints to out/default-model/ every 200 steps; run the script again
# after a stop (Ctrl-C writes a checkpoint too) and it continues where it was. About an hour
# on 2 CPU cores (88 images/s at batch 64, 5000 steps). The committed model was made by this
# script run to 5000 steps and then continued with STEPS=7000 (the learning rate's linear
# decay is recomputed for the new total); STEPS=N continues further the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
work=out/default-model
mkdir -p "$work"

tgz=${1:-$work/emoji-datasource-google-16.0.0.tgz}
if [ ! -d "$work/emoji32" ]; then
  if [ ! -f "$tgz" ]; then
    (cd "$work" && npm pack emoji-datasource-google@16.0.0)
  fi
  /usr/bin/python3 scripts/make-sample-assets.py --full "$tgz" "$work/emoji32.tmp" \
    --sheet "$work/training_set.png"
  mv "$work/emoji32.tmp" "$work/emoji32"
fi

[ -x build/host/ddpm ] || bash scripts/build.sh build
./build/host/ddpm train "$work/emoji32" --out "$work/model.safetensors" \
  --preset sprite32 --steps "${STEPS:-5000}" --batch 64 --lr 6e-4 --warmup 200 --decay-from 0.5 \
  --grad-clip 1 --ema-decay 0.999 --ema-start 1000 --flip --seed 1 \
  --checkpoint "$work/checkpoint.pt" --checkpoint-every 200 \
  --samples "$work/samples" --sample-every 500

mkdir -p assets/emoji32
cp "$work/model.safetensors" assets/emoji32/model.safetensors.tmp
mv assets/emoji32/model.safetensors.tmp assets/emoji32/model.safetensors
echo "default model written: assets/emoji32/model.safetensors"
