#!/bin/sh
# Data-parallel training through the CLI: --spawn 2 trains and writes one model; then a worker
# killed with SIGKILL makes the other stop with a clear message within the timeout, and the last
# checkpoint stays valid (a one-process run resumes from it).
#   test_distributed.sh DDPM_EXE SAMPLES SCRATCH_DIR
set -u
DDPM=$1
SAMPLES=$2
DIR=$3/distributed
rm -rf "$DIR"
mkdir -p "$DIR"
PORT=$((29400 + $$ % 300))
fail() { echo "FAIL: $*"; exit 1; }

"$DDPM" train "$SAMPLES" --out "$DIR/spawned.safetensors" --size 16 --steps 3 --batch 8 --threads 1 \
    --spawn 2 --master-port "$PORT" >"$DIR/spawn.txt" 2>&1 || { cat "$DIR/spawn.txt"; fail "--spawn 2 failed"; }
grep -q "rank 1 of 2 joined" "$DIR/spawn.txt" || fail "rank 1 did not join"
grep -q "collectives" "$DIR/spawn.txt" || fail "no collective timing"
"$DDPM" info "$DIR/spawned.safetensors" >/dev/null || fail "the spawned run's model does not load"
echo "ok: --spawn 2"

# Two workers started by hand, as on two machines; rank 1 is killed mid-run.
PORT=$((PORT + 1))
CKPT="$DIR/run.ckpt"
for r in 0 1; do
  "$DDPM" train "$SAMPLES" --out "$DIR/run.safetensors" --size 16 --steps 100000 --batch 8 --threads 1 \
      --world-size 2 --rank "$r" --master-port "$PORT" --dist-timeout 10 --checkpoint "$CKPT" \
      --checkpoint-every 1 >"$DIR/rank$r.txt" 2>&1 &
  eval "PID$r=\$!"
done
i=0
while [ ! -f "$CKPT" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
[ -f "$CKPT" ] || { cat "$DIR/rank0.txt"; fail "no checkpoint appeared"; }
sleep 1
kill -9 "$PID1"
start=$(date +%s)
wait "$PID0"
code=$?
took=$(( $(date +%s) - start ))
[ "$code" -ne 0 ] || fail "rank 0 went on after rank 1 died"
grep -q "another worker stopped or did not answer" "$DIR/rank0.txt" || { cat "$DIR/rank0.txt"; fail "no clear message (exit $code: 141 is SIGPIPE)"; }
[ "$took" -le 20 ] || fail "rank 0 took ${took}s to stop (timeout 10 s)"
echo "ok: rank 0 stopped ${took}s after rank 1 was killed (exit $code): $(grep -o 'another worker[^(]*' "$DIR/rank0.txt" | head -1)"
ls "$DIR" | grep -q '\.tmp' && fail "temporary files left: $(ls "$DIR")"
# The checkpoint is whole: one process resumes from it (its step is past --steps 1, so it only
# writes the model).
"$DDPM" train "$SAMPLES" --out "$DIR/resumed.safetensors" --size 16 --steps 1 --batch 8 --threads 1 \
    --checkpoint "$CKPT" >"$DIR/resume.txt" 2>&1 || { cat "$DIR/resume.txt"; fail "resume from the checkpoint failed"; }
"$DDPM" info "$DIR/resumed.safetensors" | grep -q "trained" || fail "resumed model has no training step"
echo "ok: the checkpoint resumes with world size 1"
echo passed
