#!/bin/sh
# Data-parallel training throughput: images per second of 1 and 2 processes (one thread each)
# on this machine, and the all-reduce time per step, measured in the same run through the CLI.
#   tests/bench/bench_distributed.sh [DDPM_EXE] [STEPS]
set -eu
DDPM=${1:-build/host/ddpm}
STEPS=${2:-40}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
run() {  # run NAME ARGS...: prints the last step's images/s
  name=$1; shift
  "$DDPM" train assets/samples --out "$DIR/$name.safetensors" --size 32 --steps "$STEPS" --batch 16 \
      --threads 1 "$@" >"$DIR/$name.txt" 2>&1
  grep -o "[0-9.]* img/s" "$DIR/$name.txt" | tail -1 | cut -d' ' -f1
}
one=$(run one)
two=$(run two --spawn 2 --master-port $((29300 + $$ % 500)))
comm=$(grep -o "rank 0: .* ms a step" "$DIR/two.txt" | grep -o "collectives [0-9.]*" | cut -d' ' -f2)
echo "sprite32 32px, global batch 16, $STEPS steps, one thread per process"
echo "1 process:   $one images/s"
echo "2 processes: $two images/s ($(echo "$two $one" | awk '{printf "%.2f", $1 / $2}')x)"
echo "all-reduce of the gradients (8.1 MB) per step: $comm ms over loopback"
