#!/bin/sh
# Fails unless every dynamic symbol the library defines is ddpm_*: check_exports.sh LIBRARY
set -eu
lib="$1"
symbols=$(nm -D --defined-only "$lib" | awk '{print $NF}')
bad=$(printf '%s\n' "$symbols" | grep -v '^ddpm_' | grep -v '^$' || true)
count=$(printf '%s\n' "$symbols" | grep -c '^ddpm_' || true)
if [ -n "$bad" ]; then
  echo "symbols other than ddpm_* are exported:"
  printf '%s\n' "$bad" | head -50
  exit 1
fi
if [ "$count" -lt 20 ]; then
  echo "only $count ddpm_* symbols exported"
  exit 1
fi
echo "$count symbols, all ddpm_*"
