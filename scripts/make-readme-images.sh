#!/usr/bin/env bash
# Regenerates the README's pictures from the default model: one row of samples per class
# (CLI, DPM-Solver++ 2M SDE, 10 steps on the logsnr grid: the default), the three studio screenshots (scripted mode under Xvfb),
# the LOVE game's (when `love` is installed),
# when a fine-tune bench has run the fine-tuning before/after, and the distilled student
# (assets/emoji32/student.safetensors) at 1 to 20 steps.
set -euo pipefail
cd "$(dirname "$0")/.."
model=assets/emoji32/model.safetensors
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The studio's defaults in the screenshots, not the settings this machine's studio saved.
export XDG_CONFIG_HOME="$tmp/config"
classes=$(./build/host/ddpm info "$model" --json | /usr/bin/python3 -c \
  'import json, sys; print(" ".join(json.load(sys.stdin)["class_names"]))')
for c in $classes; do
  ./build/host/ddpm sample "$model" --class "$c" --count 10 --sampler dpmpp2m_sde --steps 10 \
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
xvfb-run -a -s "-screen 0 1280x720x24" ./build/host/ddpm-studio --class smileys --steps 10 --seed 3 \
  --batch 16 --sampler dpmpp2m_sde --frames 3 --screenshot docs/studio-generate.png
# A relative output path: the screenshot shows it, and no machine's folders belong in the README.
rm -rf out/readme
xvfb-run -a -s "-screen 0 1280x720x24" ./build/host/ddpm-studio --panel train \
  --train-folder assets/samples --train-finetune --train-steps 150 --train-out out/readme/model.safetensors \
  --frames 3 --screenshot docs/studio-train.png
# The Live tab streams from the model's distilled student (beside it as student.safetensors).
xvfb-run -a -s "-screen 0 1280x720x24" ./build/host/ddpm-studio --panel live --class smileys \
  --live-frames 12 --live-seed-path walk --screenshot docs/studio-live.png
rm -f docs/*.png.json
# The LOVE game (engines/love), streaming smileys with the Live student, after 420 frames.
if command -v love >/dev/null; then
  xvfb-run -a -s "-screen 0 1280x720x24" love engines/love --library build/plugin/libddpm_plugin.so \
    --model "$model" --class smileys --frames 420 --screenshot docs/love-demo.png >/dev/null
fi

# The fine-tuning section's before/after: real OpenMoji images, the default model, and the
# default model fine-tuned on OpenMoji (tests/bench/bench_finetune.sh leaves it), same seeds.
tuned=${TUNED:-out/finetune/full/default/model.safetensors}
folder=${TUNED_FOLDER:-out/openmoji/full}
if [ -f "$tuned" ] && [ -d "$folder" ]; then
  for c in $classes; do
    ./build/host/ddpm sample "$model" --class "$c" --count 6 --sampler dpmpp2m_sde --steps 10 \
      --seed 100 --out "$tmp/before/$c" >/dev/null 2>&1
    ./build/host/ddpm sample "$tuned" --class "$c" --count 6 --sampler dpmpp2m_sde --steps 10 \
      --seed 100 --out "$tmp/after/$c" >/dev/null 2>&1
  done
  /usr/bin/python3 - "$folder" "$tmp/before" "$tmp/after" docs/finetune-openmoji.png $classes <<'PY'
import os, sys
from PIL import Image, ImageDraw
real, before, after, out, classes = *sys.argv[1:5], sys.argv[5:]
cell, label_w, gap, n = 48, 90, 16, 6
groups = [("OpenMoji (real)", real), ("default model", before), ("fine-tuned 10 min", after)]
width = label_w + len(groups) * (n * cell + gap)
sheet = Image.new("RGBA", (width, 20 + len(classes) * cell), (40, 40, 44, 255))
draw = ImageDraw.Draw(sheet)
for g, (title, _) in enumerate(groups):
    draw.text((label_w + g * (n * cell + gap), 4), title, fill=(230, 230, 230, 255))
for row, c in enumerate(classes):
    y = 20 + row * cell
    draw.text((6, y + cell // 2 - 6), c, fill=(230, 230, 230, 255))
    for g, (_, src) in enumerate(groups):
        files = sorted(os.listdir(os.path.join(src, c)))
        picks = [files[i * len(files) // n] for i in range(n)] if len(files) > n else files
        for col, f in enumerate(picks):
            im = Image.open(os.path.join(src, c, f)).convert("RGBA").resize((cell, cell), Image.BILINEAR)
            bg = Image.new("RGBA", im.size, (200, 200, 200, 255))
            sheet.paste(Image.alpha_composite(bg, im), (label_w + g * (n * cell + gap) + col * cell, y))
sheet.save(out)
print(out)
PY
fi

# The distilled student at 1, 2, 4, 8 and 20 DPM-Solver++ 2M SDE steps (one row each, one
# image of every class, seed 100), under a row of the model itself at 20 steps.
student=assets/emoji32/student.safetensors
rows=("model:$model:20")
for n in 1 2 4 8 20; do rows+=("student:$student:$n"); done
for r in "${rows[@]}"; do
  IFS=: read -r tag file steps <<<"$r"
  mkdir -p "$tmp/steps/$tag-$steps"
  for c in $classes; do
    ./build/host/ddpm sample "$file" --class "$c" --sampler dpmpp2m_sde --steps "$steps" --seed 100 \
      --out "$tmp/steps/$tag-$steps/$c.png" >/dev/null 2>&1
  done
done
/usr/bin/python3 - "$tmp/steps" docs/student-steps.png "${rows[@]}" -- $classes <<'PY'
import os, sys
from PIL import Image, ImageDraw
src, out = sys.argv[1], sys.argv[2]
split = sys.argv.index("--")
rows, classes = sys.argv[3:split], sys.argv[split + 1:]
cell, label_w, scale = 32, 130, 2
sheet = Image.new("RGBA", (label_w + len(classes) * cell * scale, len(rows) * cell * scale), (40, 40, 44, 255))
draw = ImageDraw.Draw(sheet)
for row, r in enumerate(rows):
    tag, _, steps = r.split(":")
    draw.text((6, row * cell * scale + cell * scale // 2 - 6), "%s, %s step%s" % (tag, steps, "" if steps == "1" else "s"), fill=(230, 230, 230, 255))
    for col, c in enumerate(classes):
        im = Image.open(os.path.join(src, "%s-%s" % (tag, steps), c + ".png")).convert("RGBA")
        im = im.resize((cell * scale,) * 2, Image.NEAREST)
        bg = Image.new("RGBA", im.size, (200, 200, 200, 255))
        sheet.paste(Image.alpha_composite(bg, im), (label_w + col * cell * scale, row * cell * scale))
sheet.save(out)
print(out)
PY
