#!/usr/bin/env bash
# Prints the rows of docs/robustness.md: every bad input and misuse the tests try, through the
# C ABI (abi_misuse.c, against a built plugin) and the CLI (the cases of host/tests/test_cli.sh
# plus every hostile model file of make_bad_models.py), with the status or exit code and the
# message each gets. Needs a LibTorch build (runs each case once: about a minute in all).
#
#   tests/robustness/make_table.sh [BUILD_DIR=build] > rows.md
# Exit status 1 when a case got another status than expected (marked "unexpected").
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(realpath "${1:-$ROOT/build}")
cd "$ROOT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ddpm-table.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
/usr/bin/python3 tests/robustness/make_bad_models.py "$WORK/bad"
M=assets/emoji32/model.safetensors
REF=tests/fixtures/reference/ref_w4_cond.pt
bad=0

cc -std=c99 -O1 -Iplugin/include tests/robustness/abi_misuse.c -L"$BUILD/plugin" -lddpm_plugin \
  -Wl,-rpath,"$BUILD/plugin" -lm -o "$WORK/abi_misuse" || exit 1
"$WORK/abi_misuse" "$M" "$WORK/abi" "$WORK"/bad/* >"$WORK/abi.md" || bad=1
sed "s|$WORK/||g" "$WORK/abi.md"

DDPM="$BUILD/host/ddpm"
# cli EXPECTED_EXIT ARGS...: one row with the exit code and the line the CLI printed about it.
cli() {
  local want=$1 got msg mark=""
  shift
  msg=$("$DDPM" "$@" 2>&1)
  got=$?
  # The line that says what was wrong: the first naming an error, else the first.
  msg=$( (grep -m1 -i "error" <<<"$msg" || head -n 1 <<<"$msg") | head -n 1)
  [[ $got == "$want" && -n $msg ]] || { mark=" **(unexpected)**"; bad=1; }
  local args="$*"
  args=${args//$WORK\//}
  msg=${msg//$WORK\//}
  echo "| CLI | \`ddpm ${args//|/\\|}\` | exit $want | exit $got$mark | ${msg//|/\\|} |"
}
mkdir -p "$WORK/empty_assets/cls" && echo "not an image" >"$WORK/empty_assets/cls/readme.txt"
cli 1 info "$WORK/missing.safetensors"
cli 1 sample "$WORK/missing.pt" --out "$WORK/x"
cli 1 sample "$M" --out "$WORK/x" --class 99 --steps 5
cli 1 sample "$M" --out "$WORK/x" --class zebra --steps 5
cli 1 sample "$REF" --out "$WORK/x" --sampler nope
cli 1 sample "$REF" --out "$WORK/x" --count 0
cli 1 sample "$REF" --out "$WORK/x" --steps 100000
cli 1 sample "$M" --out "$WORK/x" --guidance -1
cli 1 sample "$M" --out "$WORK/x" --guidance-interval 0.2-20
cli 1 sample "$M" --out "$WORK/x" --guidance-interval 5:2
cli 1 sample "$REF" --out "$WORK/x" --eta 2
cli 1 sample "$REF" --out "$WORK/no_dir/x.png"
cli 1 sample "$REF" --out "$WORK/x" --grid "$WORK/grid.jpg"
cli 1 import "$REF" "$WORK/bad.safetensors" --classes "a,b" --image-size 16
cli 1 import "$WORK/nothing.pt" "$WORK/bad.safetensors"
cli 1 import "$M" "$WORK/bad.safetensors"
cli 1 blend "$REF" "$M" --strength 0.5 --out "$WORK/blend.safetensors"
cli 1 train "$WORK/no_such_assets" --out "$WORK/t.safetensors" --steps 2
cli 1 train assets/samples --out "$WORK/no_dir/t.safetensors" --steps 2
cli 1 train assets/samples --out "$WORK/t.safetensors" --samples "$M" --steps 2
cli 1 train "$WORK/empty_assets" --out "$WORK/t.safetensors" --size 16 --steps 2 --batch 4
cli 1 train assets/samples --out "$WORK/t.safetensors" --batch -1
cli 1 sample
cli 1 frobnicate
for f in "$WORK"/bad/*; do cli 1 info "$f"; done
DDPM_MODEL="$WORK/gone.safetensors" cli 1 sample --out "$WORK/x" --steps 2
exit $bad
