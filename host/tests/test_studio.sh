#!/bin/sh
# The studio under Xvfb (Mesa's software OpenGL): a scripted generation whose screenshot must
# show the plugin's own result, a scripted training run, the Live mode (a stream steered
# mid-run whose screenshot must show the plugin's own frame), closing while a job runs, and every
# kind of bad input (no display, no plugin, a plugin of another ABI, missing shaders, a bad or
# corrupt model, a class out of range, a folder without images).
#   test_studio.sh STUDIO PLUGIN_LIB BINDING_DIR MODEL ASSETS SCRATCH
set -u
STUDIO=$1
LIB=$2
BINDING=$3
MODEL=$4
ASSETS=$5
DIR=$6/studio
rm -rf "$DIR"
mkdir -p "$DIR"
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# Under Xvfb, with the program's own exit status (see tests/xvfb_run.sh).
xvfb() { sh "$(dirname "$0")/../../tests/xvfb_run.sh" "$@"; }
# expect CODE TEXT: the last run's exit code and a text its output must contain.
expect() {
  if [ "$code" -ne "$1" ] || ! grep -q "$2" "$DIR/out.txt"; then
    cat "$DIR/out.txt"
    fail "$3: exit $code (expected $1), output should contain '$2'"
  fi
}

echo "== generation, screenshot checked against the plugin's result"
xvfb "$STUDIO" --model "$MODEL" --class 0 --steps 12 --seed 7 --batch 4 --sampler dpmpp2m --frames 3 \
  --screenshot "$DIR/generate.png" >"$DIR/out.txt" 2>&1
code=$?
expect 0 "wrote" "scripted generation"
/usr/bin/python3 "$(dirname "$0")/check_screenshot.py" "$DIR/generate.png" "$LIB" "$BINDING" || fail "screenshot check"

echo "== image to image with a painted inpainting mask"
xvfb "$STUDIO" --model "$MODEL" --class 0 --steps 10 --seed 3 --batch 2 --frames 3 \
  --init "$ASSETS/animals/panda_face.png" --strength 0.6 --inpaint-center --screenshot "$DIR/inpaint.png" \
  >"$DIR/out.txt" 2>&1
code=$?
expect 0 "wrote" "scripted inpainting"
printf 'no png' >"$DIR/bad.png"
xvfb "$STUDIO" --model "$MODEL" --frames 2 --init "$DIR/bad.png" >"$DIR/out.txt" 2>&1
code=$?
expect 1 "cannot load the init image" "corrupt init image"

echo "== training panel: a short run on the sample assets, in two local processes"
xvfb "$STUDIO" --model "$MODEL" --panel train --train-folder "$ASSETS" --train-steps 20 --train-processes 2 \
  --train-out "$DIR/trained/model.safetensors" --frames 3 --screenshot "$DIR/train.png" >"$DIR/out.txt" 2>&1
code=$?
expect 0 "wrote" "scripted training"
[ -s "$DIR/trained/model.safetensors" ] || fail "training wrote no model"
grep -q '"status": "done"' "$DIR/train.png.json" || fail "training status is not done"
grep -q '"processes": 2' "$DIR/train.png.json" || fail "the panel did not ask for 2 processes"
grep -q 'rank 0 of 2 joined' "$DIR/train.png.json" || fail "training did not run as rank 0 of 2"

echo "== training panel: the trained model's Live student, distilled beside it and paired with it"
xvfb "$STUDIO" --model "$DIR/trained/model.safetensors" --panel train --train-folder "$ASSETS" --train-distill \
  --train-steps 6 --frames 3 --screenshot "$DIR/distill.png" >"$DIR/out.txt" 2>&1
code=$?
expect 0 "wrote" "scripted distillation"
[ -s "$DIR/trained/model.student.safetensors" ] || fail "distillation wrote no student beside the model"
grep -q '"status": "done"' "$DIR/distill.png.json" || fail "distillation status is not done"
xvfb "$STUDIO" --model "$DIR/trained/model.safetensors" --frames 1 >"$DIR/out.txt" 2>&1
code=$?
expect 0 "Live uses its distilled student .*trained/model.student.safetensors" "the model paired with its student"

echo "== live mode: a stream whose class changes mid-run, checked against the plugin's own frame"
# 4 stages, class 0 then 1 from call 4 on: frame 6 entered at call 6, so it must be class 1.
xvfb "$STUDIO" --model "$MODEL" --class 0 --steps 4 --seed 5 --live-seed-path walk --live-frames 6 \
  --live-class-after 3 --live-class 1 --screenshot "$DIR/live.png" >"$DIR/out.txt" 2>&1
code=$?
expect 0 "wrote" "scripted live stream"
/usr/bin/python3 "$(dirname "$0")/check_live.py" "$DIR/live.png" "$LIB" "$BINDING" 6 || fail "live screenshot check"

echo "== live mode with bf16 convolutions (AVX512-BF16 CPUs), or their refusal by name"
xvfb "$STUDIO" --model "$MODEL" --class 0 --steps 4 --seed 5 --live-frames 4 --precision bf16 \
  --screenshot "$DIR/live_bf16.png" >"$DIR/out.txt" 2>&1
code=$?
if grep -q avx512_bf16 /proc/cpuinfo; then
  expect 0 "wrote" "scripted bf16 live stream"
  /usr/bin/python3 "$(dirname "$0")/check_live.py" "$DIR/live_bf16.png" "$LIB" "$BINDING" 4 bf16 ||
    fail "bf16 live screenshot check"
else
  expect 1 "AVX512-BF16" "bf16 on a CPU without it"
fi

echo "== live mode: an image-to-image stream (latency = round(strength * steps) calls)"
xvfb "$STUDIO" --model "$MODEL" --class 1 --steps 6 --seed 2 --init "$ASSETS/animals/panda_face.png" \
  --strength 0.5 --live-frames 2 --screenshot "$DIR/live_img.png" >"$DIR/out.txt" 2>&1
code=$?
expect 0 "wrote" "scripted image-input stream"
/usr/bin/python3 "$(dirname "$0")/check_live.py" "$DIR/live_img.png" "$LIB" "$BINDING" 2 || fail "image-input stream check"

echo "== live mode on the plugin's worker; closing the window while it runs"
xvfb "$STUDIO" --model "$MODEL" --class 6 --steps 3 --live-frames 3 --live-run --screenshot "$DIR/live_run.png" \
  >"$DIR/out.txt" 2>&1
code=$?
expect 0 "wrote" "scripted live stream on the worker"
/usr/bin/python3 "$(dirname "$0")/check_live.py" "$DIR/live_run.png" "$LIB" "$BINDING" 3 || fail "worker stream check"
xvfb "$STUDIO" --model "$MODEL" --panel live --steps 3 --frames 1 --close-during-job >"$DIR/out.txt" 2>&1
code=$?
expect 0 "pausing and closing the live stream" "close while the stream runs"
xvfb "$STUDIO" --model "$MODEL" --steps 3 --live-frames 2 --live-class-after 1 --live-class 999 \
  >"$DIR/out.txt" 2>&1
code=$?
expect 1 "out of range" "live class out of range"
xvfb "$STUDIO" --model "$MODEL" --steps 300 --live-frames 1 --screenshot "$DIR/live_bad.png" >"$DIR/out.txt" 2>&1
code=$?
expect 1 "DDPM_ERR_OUT_OF_RANGE" "live stream the plugin refuses"
grep -q "allowed 1 to 256" "$DIR/live_bad.png.json" || fail "the refused stream's message is not in the screenshot's status"

echo "== closing the window while a job runs cancels it and exits cleanly"
xvfb "$STUDIO" --model "$MODEL" --sampler ddpm --steps 1000 --batch 8 --frames 1 --close-during-job \
  >"$DIR/out.txt" 2>&1
code=$?
expect 0 "cancelling the running generation" "close during a job"

echo "== bad input"
env -u DISPLAY -u WAYLAND_DISPLAY "$STUDIO" --model "$MODEL" --frames 1 >"$DIR/out.txt" 2>&1
code=$?
expect 1 "ddpm sample" "no display"

xvfb "$STUDIO" --model "$DIR/missing.safetensors" --frames 2 >"$DIR/out.txt" 2>&1
code=$?
expect 1 "does not exist" "missing model"

printf 'not a model at all' >"$DIR/corrupt.safetensors"
xvfb "$STUDIO" --model "$DIR/corrupt.safetensors" --frames 2 >"$DIR/out.txt" 2>&1
code=$?
expect 1 "cannot load the model" "corrupt model"

xvfb "$STUDIO" --model "$MODEL" --class 999 --frames 2 >"$DIR/out.txt" 2>&1
code=$?
expect 1 "out of range" "class out of range"

xvfb "$STUDIO" --model "$MODEL" --device cuda:99 --frames 2 >"$DIR/out.txt" 2>&1
code=$?
expect 1 "device 'cuda:99'" "a GPU that is not there"

mkdir -p "$DIR/empty/class_a"
xvfb "$STUDIO" --model "$MODEL" --panel train --train-folder "$DIR/empty" --train-steps 5 \
  --train-out "$DIR/empty.safetensors" --frames 2 >"$DIR/out.txt" 2>&1
code=$?
expect 1 "holds no image" "folder without images"

mkdir -p "$DIR/noshaders"
DDPM_SHADERS="$DIR/noshaders" xvfb "$STUDIO" --model "$MODEL" --frames 1 >"$DIR/out.txt" 2>&1
code=$?
expect 1 "preview.vert" "missing shaders"

# Away from the build tree the studio finds no plugin ...
mkdir -p "$DIR/bin"
cp "$STUDIO" "$DIR/bin/ddpm-studio"
env -u DDPM_PLUGIN "$DIR/bin/ddpm-studio" --frames 1 >"$DIR/out.txt" 2>&1
code=$?
expect 1 "libddpm_plugin.so" "no plugin"
# ... and refuses one of another ABI version.
cat >"$DIR/fake.c" <<'C'
int ddpm_abi_version(void) { return 99; }
C
if cc -shared -fPIC -o "$DIR/fake.so" "$DIR/fake.c"; then
  DDPM_PLUGIN="$DIR/fake.so" "$DIR/bin/ddpm-studio" --frames 1 >"$DIR/out.txt" 2>&1
  code=$?
  expect 1 "ABI version 99" "plugin of another ABI"
fi

if [ "$FAILS" -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
echo "passed"
