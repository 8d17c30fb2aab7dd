#!/bin/sh
# The plugin lookup: a copy of `ddpm` away from the build tree finds no plugin (exit 1 and a
# message naming the places tried), then finds it through DDPM_PLUGIN.
#   test_lookup.sh DDPM_EXE PLUGIN_LIB REF_PT SCRATCH_DIR
set -u
DDPM=$1
LIB=$2
REF=$3
DIR=$4/lookup
rm -rf "$DIR"
mkdir -p "$DIR/bin"
cp "$DDPM" "$DIR/bin/ddpm"
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

env -u DDPM_PLUGIN "$DIR/bin/ddpm" info "$REF" >"$DIR/out.txt" 2>&1
code=$?
cat "$DIR/out.txt"
[ "$code" -eq 1 ] || fail "without a plugin: exit $code, expected 1"
grep -q "libddpm_plugin.so" "$DIR/out.txt" && grep -q "DDPM_PLUGIN" "$DIR/out.txt" || fail "message does not say where it looked"

DDPM_PLUGIN="$DIR/none.so" "$DIR/bin/ddpm" info "$REF" >"$DIR/out.txt" 2>&1
code=$?
[ "$code" -eq 1 ] && grep -q "none.so" "$DIR/out.txt" || fail "a DDPM_PLUGIN that does not exist: exit $code"

DDPM_PLUGIN="$LIB" "$DIR/bin/ddpm" info "$REF" >"$DIR/out.txt" 2>&1
code=$?
[ "$code" -eq 0 ] && grep -q "classes:" "$DIR/out.txt" || { cat "$DIR/out.txt"; fail "with DDPM_PLUGIN: exit $code"; }

# The installed layout: bin/ddpm and lib/libddpm_plugin.so.
mkdir -p "$DIR/lib"
cp "$LIB" "$DIR/lib/libddpm_plugin.so"
env -u DDPM_PLUGIN "$DIR/bin/ddpm" info "$REF" >"$DIR/out.txt" 2>&1
code=$?
[ "$code" -eq 0 ] || { cat "$DIR/out.txt"; fail "installed layout: exit $code"; }

if [ "$FAILS" -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
echo "passed"
