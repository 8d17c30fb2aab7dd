#!/usr/bin/env bash
# The kill test through the real save path: SIGKILLs `ddpm train`, which writes a training
# checkpoint after every step (save_training_checkpoint in the LibTorch core) and resumes from
# it on the next start, at random moments. After every kill the checkpoint must be whole
# (kill_writer check-file: it parses and its tensors cover the file to the last byte), never
# older than before the kill, and byte-equal to the copy taken before the start when no newer
# save came; the next start must resume from it (the real loader). Needs a LibTorch build and
# about 4 s a kill, so it is not part of CI: scripts/test-hardening.sh runs the torch-free
# kill_test.sh, which saves through the same io::write_file_atomic.
#
#   tests/robustness/kill_cli_test.sh <ddpm> <kill_writer> [N=20]
set -euo pipefail
DDPM=$(realpath "$1")
WRITER=$(realpath "$2")
N=${3:-20}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ddpm-kill-cli.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
CK="$DIR/checkpoint.safetensors"
# exec: the background subshell becomes ddpm itself, so that $! is the process to kill.
train() {
  exec "$DDPM" train "$ROOT/assets/samples" --out "$DIR/model.safetensors" --checkpoint "$CK" \
    --checkpoint-every 1 --steps 1000000 --size 16 --batch 2 --threads 1 >"$DIR/log.txt" 2>&1
}
intact=0 saved=0 max_tmp=0 last=0 failures=()
for ((i = 1; i <= N; i++)); do
  [[ -f $CK ]] && cp "$CK" "$DIR/before"
  train &
  pid=$!
  sleep "$((1 + RANDOM % 3)).$(printf '%03d' $((RANDOM % 1000)))"
  if ! kill -KILL "$pid" 2>/dev/null; then
    failures+=("kill $i: ddpm train had stopped by itself: $(tail -n 2 "$DIR/log.txt")")
    continue
  fi
  wait "$pid" 2>/dev/null || true
  tmp=$(find "$DIR" -name '*.tmp.*' | wc -l)
  ((tmp > max_tmp)) && max_tmp=$tmp
  [[ -f $CK ]] || { failures+=("kill $i: no checkpoint yet"); continue; }
  if ! step=$("$WRITER" check-file "$CK" 2>"$DIR/err.txt"); then
    failures+=("kill $i: $(cat "$DIR/err.txt")")
    continue
  fi
  if ((step < last)); then
    failures+=("kill $i: checkpoint went back from step $last to $step")
  elif ((step == last)) && [[ -f $DIR/before ]] && ! cmp -s "$CK" "$DIR/before"; then
    failures+=("kill $i: step $step unchanged but the bytes differ")
  else
    intact=$((intact + 1))
    ((step > last)) && saved=$((saved + 1))
  fi
  last=$step
done
echo "kill test (ddpm train): $intact of $N checkpoints intact after SIGKILL ($saved kills came" \
     "after a new save; last step $last); at most $max_tmp temporaries present after a kill"
for f in "${failures[@]}"; do echo "  FAILED $f"; done
[[ $intact -eq $N ]]
