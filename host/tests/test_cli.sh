#!/bin/sh
# End-to-end test of the `ddpm` tool on the reference fixture (16x16, 3 classes).
#   test_cli.sh DDPM_EXE REF_PT SCRATCH_DIR
set -u
DDPM=$1
REF=$2
DIR=$3/end_to_end
rm -rf "$DIR"
mkdir -p "$DIR"
FAILS=0

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# run EXPECTED_CODE PATTERN ARGS...: runs ddpm, checks the exit code and that the
# output (stdout + stderr) contains PATTERN (empty: no check).
run() {
  want=$1; pattern=$2; shift 2
  "$DDPM" "$@" >"$DIR/out.txt" 2>&1
  code=$?
  if [ "$code" -ne "$want" ]; then
    fail "ddpm $* exited $code, expected $want"; sed 's/^/    /' "$DIR/out.txt"
  elif [ -n "$pattern" ] && ! grep -q -- "$pattern" "$DIR/out.txt"; then
    fail "ddpm $*: output lacks '$pattern'"; sed 's/^/    /' "$DIR/out.txt"
  else
    echo "ok: ddpm $* -> $code"
  fi
}

# png_size FILE W H: checks the PNG header's size.
png_size() {
  python3 - "$1" "$2" "$3" <<'PY' || fail "PNG $1 is not ${2}x${3}"
import struct, sys
path, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "rb") as f:
    head = f.read(24)
assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %s" % path
gw, gh = struct.unpack(">II", head[16:24])
assert (gw, gh) == (w, h), "%s is %dx%d, expected %dx%d" % (path, gw, gh, w, h)
PY
}

# --- info
run 0 "classes:    3" info "$REF"
run 0 '"samplers"' info --json "$REF"

# --- import first: the reference .pt loads directly as a 64x64 model (slow to sample); the
# imported copy says it was trained at 16x16 and names its classes.
M=$DIR/imported.safetensors
run 0 "" import "$REF" "$M" --classes "cat,dog,fox" --image-size 16 --float16
run 0 "0=cat 1=dog 2=fox" info "$M"
run 0 '"fox"' info --json "$M"
# the .pt itself, sampled directly (64x64)
run 0 "" sample "$REF" --out "$DIR/direct.png" --class 1 --steps 2
png_size "$DIR/direct.png" 64 64

# --- sample into a folder, with a grid and a sprite sheet
run 0 "" sample "$M" --out "$DIR/imgs" --class dog --count 3 --steps 5 --seed 4 \
  --grid "$DIR/grid.png" --sheet "$DIR/sheet.png"
n=$(ls "$DIR/imgs" | grep -c '\.png$')
[ "$n" -eq 3 ] || fail "expected 3 PNG files in $DIR/imgs, found $n"
for f in "$DIR"/imgs/*.png; do png_size "$f" 16 16; done
# 2 columns x 2 rows, 2 px padding: 2*16 + 3*2 = 38
png_size "$DIR/grid.png" 38 38
png_size "$DIR/sheet.png" 32 32
python3 - "$DIR/sheet.json" <<'PY' || fail "bad atlas $DIR/sheet.json"
import json, sys
a = json.load(open(sys.argv[1]))
assert a["image"] == "sheet.png" and (a["width"], a["height"]) == (32, 32), a
fr = a["frames"]
assert len(fr) == 3, fr
assert [(f["x"], f["y"], f["w"], f["h"]) for f in fr] == [(0, 0, 16, 16), (16, 0, 16, 16), (0, 16, 16, 16)], fr
assert all(f["name"].startswith("dog_") and f["class"] == "dog" for f in fr), fr
assert [f["seed"] for f in fr] == [4, 5, 6], fr
assert (a["sampler"], a["steps"]) == ("dpmpp2m_sde", 5), a
PY
# no --steps: the plugin's count for the sampler (DDIM 25), in the progress and the sheet
run 0 "step 25/25" sample "$M" --out "$DIR/ddim" --class dog --count 1 --sampler ddim --sheet "$DIR/ddim.png"
python3 - "$DIR/ddim.json" <<'PY' || fail "the sheet of a DDIM run without --steps does not record 25 steps"
import json, sys
a = json.load(open(sys.argv[1]))
assert (a["sampler"], a["steps"]) == ("ddim", 25), a
PY

# --- one file, by class index, another sampler, tiling
run 0 "" sample "$M" --out "$DIR/one.png" --class 0 --steps 5 --sampler euler_a --tiling
png_size "$DIR/one.png" 16 16
# several images into FILE.png: FILE_000.png, FILE_001.png
run 0 "" sample "$M" --out "$DIR/many.png" --count 2 --steps 3 --guidance 1.5 --eta 0.5
png_size "$DIR/many_001.png" 16 16
# the same seed gives the same image
run 0 "" sample "$M" --out "$DIR/a.png" --class fox --steps 5 --seed 9 --sampler dpmpp2m
run 0 "" sample "$M" --out "$DIR/b.png" --class fox --steps 5 --seed 9 --sampler dpmpp2m
cmp -s "$DIR/a.png" "$DIR/b.png" || fail "same seed gave different images"
# the guidance interval: the SDE sampler's default is 0:20, "none" guides every step
run 0 "" sample "$M" --out "$DIR/gi_default.png" --class fox --steps 8 --seed 9
run 0 "" sample "$M" --out "$DIR/gi_same.png" --class fox --steps 8 --seed 9 --guidance-interval 0:20
run 0 "" sample "$M" --out "$DIR/gi_none.png" --class fox --steps 8 --seed 9 --guidance-interval none
cmp -s "$DIR/gi_default.png" "$DIR/gi_same.png" || fail "--guidance-interval 0:20 is not the default"
cmp -s "$DIR/gi_default.png" "$DIR/gi_none.png" && fail "--guidance-interval none changed nothing"
# progress lines when not on a terminal
run 0 "step 5/5" sample "$M" --out "$DIR/p.png" --steps 5 --sampler ddpm

# --- train: 4 steps at 16x16 on the committed samples, then the model loads and samples
SAMPLES=$(cd "$(dirname "$0")/../../assets/samples" && pwd)
run 0 "step 4/4" train "$SAMPLES" --out "$DIR/trained.safetensors" --size 16 --steps 4 --batch 4 --seed 2
run 0 "0=animals 1=smileys 2=travel" info "$DIR/trained.safetensors"
run 0 "" sample "$DIR/trained.safetensors" --out "$DIR/trained.png" --class smileys --steps 2
png_size "$DIR/trained.png" 16 16
run 1 "no_such_assets" train "$DIR/no_such_assets" --out "$DIR/t.safetensors" --steps 2
mkdir -p "$DIR/empty_assets"
run 1 "empty_assets" train "$DIR/empty_assets" --out "$DIR/t.safetensors" --size 16 --steps 2 --batch 4
run 1 "batch" train "$SAMPLES" --out "$DIR/t.safetensors" --batch -1
run 1 "device = 'tpu' is invalid" train "$SAMPLES" --out "$DIR/t.safetensors" --device tpu --steps 2

# --- a live stream: frames as files and a sheet, a class change after exactly `steps` calls
run 0 "latency 3 calls" stream "$M" --frames 6 --steps 3 --class cat --class-at 3:fox \
    --out "$DIR/live" --sheet "$DIR/live/sheet.png" --seed-path walk --period 4
png_size "$DIR/live/frame_00006.png" 16 16
png_size "$DIR/live/sheet.png" 48 32
grep -q "frame_00002.png call 4 class cat" "$DIR/out.txt" || fail "frame 2 (entered at call 2) should be a cat"
grep -q "frame_00003.png call 5 class fox" "$DIR/out.txt" || fail "the class set at call 3 should reach frame 3 at call 5"
python3 - "$DIR/live/sheet.json" <<'PY' || fail "stream sheet atlas"
import json, sys
a = json.load(open(sys.argv[1]))
fr = a["frames"]
assert len(fr) == 6 and a["latency_calls"] == 3, a
assert [f["class"] for f in fr] == ["cat", "cat", "fox", "fox", "fox", "fox"], fr
PY
run 0 "latency 2 calls" stream "$M" --frames 2 --steps 4 --input "$DIR/one.png" --strength 0.5 --out "$DIR/live_in"
run 1 "--class-at 'x:1' is invalid" stream "$M" --frames 2 --class-at x:1 --out "$DIR/x"
run 1 "steps 0 is out of range" stream "$M" --frames 2 --steps 0 --out "$DIR/x"
run 1 "strength" stream "$M" --frames 2 --input "$DIR/one.png" --strength 0 --out "$DIR/x"
run 1 "not-there.png" stream "$M" --frames 2 --input "$DIR/not-there.png" --out "$DIR/x"
run 1 "give --out" stream "$M" --frames 2

# --- user errors: exit code 1 and a message naming the problem
run 1 "missing.safetensors" info "$DIR/missing.safetensors"
# Without MODEL the default model is used; DDPM_MODEL names another.
export DDPM_MODEL="$M"
run 0 "0=cat 1=dog 2=fox" info
export DDPM_MODEL="$DIR/gone.safetensors"
run 1 "gone.safetensors" sample --out "$DIR/x" --steps 2
unset DDPM_MODEL
run 1 "missing.pt" sample "$DIR/missing.pt" --out "$DIR/x"
run 1 "out of range" sample "$M" --out "$DIR/x" --class 7 --steps 5
run 1 "0=cat, 1=dog, 2=fox" sample "$M" --out "$DIR/x" --class zebra --steps 5
# where the model runs: the CPU by name gives the default's image; a GPU index past the last one
# (any CUDA device on a build without CUDA) and an unknown name are refused by name
run 0 "" sample "$M" --out "$DIR/a_cpu.png" --class fox --steps 5 --seed 9 --sampler dpmpp2m --device cpu
cmp -s "$DIR/a.png" "$DIR/a_cpu.png" || fail "--device cpu gave another image than the default"
run 1 "device 'cuda:99'" sample "$M" --out "$DIR/x" --steps 2 --device cuda:99
run 1 "unknown device 'tpu'" stream "$M" --frames 2 --out "$DIR/x" --device tpu
run 1 "nope" sample "$REF" --out "$DIR/x" --sampler nope
run 1 "count" sample "$REF" --out "$DIR/x" --count 0
run 1 "steps" sample "$REF" --out "$DIR/x" --steps 100000
run 1 "guidance" sample "$M" --out "$DIR/x" --guidance -1
run 1 "--guidance-interval 0.2-20 is invalid" sample "$M" --out "$DIR/x" --guidance-interval 0.2-20
run 1 "guidance interval \[5, 2\] is empty" sample "$M" --out "$DIR/x" --guidance-interval 5:2
run 1 "eta" sample "$REF" --out "$DIR/x" --eta 2
run 1 "no_dir" sample "$REF" --out "$DIR/no_dir/x.png"
run 1 ".png" sample "$REF" --out "$DIR/x" --grid "$DIR/grid.jpg"
run 1 "class" import "$REF" "$DIR/bad.safetensors" --classes "a,b" --image-size 16
run 1 "nothing.pt" import "$DIR/nothing.pt" "$DIR/bad.safetensors"
# --- blend: a model with itself is itself (any strength); the checks name what is wrong
run 0 "" blend "$M" "$M" --strength 0.5 --out "$DIR/blend.safetensors"
run 0 "0=cat 1=dog 2=fox" info "$DIR/blend.safetensors"
run 0 "" sample "$DIR/blend.safetensors" --out "$DIR/blend.png" --class dog --steps 3 --seed 4
run 0 "" sample "$M" --out "$DIR/same.png" --class dog --steps 3 --seed 4
cmp -s "$DIR/blend.png" "$DIR/same.png" || fail "a model blended with itself draws other images"
run 1 "strength 3 is out of range" blend "$M" "$M" --strength 3 --out "$DIR/x.safetensors"
run 1 "missing.safetensors" blend "$DIR/missing.safetensors" "$M" --strength 1 --out "$DIR/x.safetensors"
run 1 "do not start with its base" blend "$REF" "$M" --strength 1 --out "$DIR/x.safetensors"
run 1 "strength" blend "$M" "$M" --out "$DIR/x.safetensors"
# --- widen and convert: twice the width (the ctypes test checks its images), float16 half the file
run 0 "" widen "$M" --out "$DIR/wide.safetensors" --seed 3
run 0 "base width 8" info "$DIR/wide.safetensors"
run 0 "" convert "$DIR/wide.safetensors" --float16 --out "$DIR/wide16.safetensors"
run 0 "" sample "$DIR/wide16.safetensors" --out "$DIR/wide16.png" --class dog --steps 3 --seed 4
[ "$(wc -c < "$DIR/wide16.safetensors")" -lt "$(wc -c < "$DIR/wide.safetensors")" ] || fail "float16 is not smaller"
run 1 "missing.safetensors" widen "$DIR/missing.safetensors" --out "$DIR/x.safetensors"
run 1 "no_dir" convert "$M" --out "$DIR/no_dir/x.safetensors"
run 1 "" sample
run 1 "" frobnicate
run 0 "sample" --help

if [ "$FAILS" -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
echo "passed"
