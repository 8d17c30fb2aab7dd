#!/usr/bin/env bash
# Regenerates the README's pictures from the default model: one row of samples per class
# (CLI, DPM-Solver++ 2M SDE, 20 steps) and the two studio screenshots (scripted mode under Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
model=assets/emoji32/model.safetensors
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
classes=$(./build/host/ddpm info "$model" --json | /usr/bin/python3 -c \
  'import json, sys; print(" ".join(json.load(sys.stdin)["class_names"]))')
for c in $classes; do
  ./build/host/ddpm sample "$model" --class "$c" --count 10 --sampler dpmpp2m_sde --steps 20 \
    --seed 100 --out "$tmp/$c" >/dev/null 2>&1
done
/usr/bin/python3 - "$tmp" docs/classes.png $classes <<'PY'
import os, sys
from PIL import Image, ImageDraw
src, out, classes = sys.argv[1], sys.argv[2], sys.argv[3:]
cell, label_w, scale = 32, 90, 2
sheet = Image.new("RGBA", (label_w + 10 * cell * scale, len(classes) * cell * scale), (40, 40, 44, 255))
draw = ImageDraw.Draw(sheet)
for row, c in enumerate(classes):
    files = sorted(os.listdir(os.path.join(src, c)))
    draw.text((6, row * cell * scale + cell * scale // 2 - 6), c, fill=(230, 230, 230, 255))
    for col, f in enumerate(files[:10]):
        im = Image.open(os.path.join(src, c, f)).convert("RGBA").resize((cell * scale,) * 2, Image.NEAREST)
        bg = Image.new("RGBA", im.size, (200, 200, 200, 255))
        sheet.paste(Image.alpha_composite(bg, im), (label_w + col * cell * scale, row * cell * scale))
sheet.save(out)
print(out)
PY
xvfb-run -a -s "-screen 0 1280x720x24" ./build/host/ddpm-studio --class smileys --steps 20 --seed 3 \
  --batch 16 --sampler dpmpp2m_sde --frames 3 --screenshot docs/studio-generate.png
xvfb-run -a -s "-screen 0 1280x720x24" ./build/host/ddpm-studio --panel train \
  --train-folder assets/samples --train-finetune --train-steps 150 --train-out "$tmp/train/model.safetensors" \
  --frames 3 --screenshot docs/studio-train.png
rm -f docs/*.png.json
