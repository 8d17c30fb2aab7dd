#!/usr/bin/env bash
# Crash-safe saves: SIGKILLs a process that keeps saving a model file and a training
# checkpoint (real model size, through io::write_file_atomic) at random moments, N times.
# After every kill both files must parse and equal, byte for byte, the complete file of the
# generation they claim, never older than before the kill; temporaries left by the killed
# writer must be removed by the next writer, so they never pile up.
#
#   tests/robustness/kill_test.sh <path to kill_writer> [N=100]
set -euo pipefail
WRITER=$(realpath "$1")
N=${2:-100}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC="$ROOT/assets/emoji32/model.safetensors"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ddpm-kill.XXXXXX")
trap 'rm -rf "$DIR"' EXIT

"$WRITER" write "$DIR" "$SRC" 1  # generation 1 of both files, uninterrupted
min=1 min_ckpt=1 intact=0 advanced=0 max_tmp=0 failures=()
for ((i = 1; i <= N; i++)); do
  "$WRITER" write "$DIR" "$SRC" &
  pid=$!
  # 0 to 0.6 s: the writer's start, then about three generations of both files.
  sleep "$(printf '0.%03d' $((RANDOM % 600)))"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  if out=$("$WRITER" check "$DIR" "$SRC" "$min" "$min_ckpt"); then
    intact=$((intact + 1))
  else
    failures+=("kill $i: $out")
  fi
  read -r gm gc tmp <<<"$out"
  if ((gm > min)); then advanced=$((advanced + 1)); min=$gm; fi
  if ((gc > min_ckpt)); then min_ckpt=$gc; fi
  if ((tmp > max_tmp)); then max_tmp=$tmp; fi
done
# A writer that runs to the end removes what the last kill left.
"$WRITER" write "$DIR" "$SRC" 1
final=$("$WRITER" check "$DIR" "$SRC" "$min" "$min_ckpt")
read -r _ _ final_tmp <<<"$final"

echo "kill test: $intact of $N intact after SIGKILL ($advanced kills came after at least one new" \
     "save; last generation $min); at most $max_tmp temporaries present after a kill, $final_tmp" \
     "after the next writer ran"
for f in "${failures[@]}"; do echo "  FAILED $f"; done
[[ $intact -eq $N && $final_tmp -eq 0 && $max_tmp -le 2 ]]
