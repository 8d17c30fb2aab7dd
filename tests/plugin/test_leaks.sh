#!/bin/sh
# Runs test_leaks under LeakSanitizer when the runtime is there and works on this machine
# (LSan stops the process's threads with ptrace, which some containers forbid: then the leak
# check is reported as not run and only the resident-memory bound is checked).
#   test_leaks.sh TEST_LEAKS LSAN_LIBRARY_OR_EMPTY MODEL SAMPLES SCRATCH
set -u
exe=$1
lsan=$2
shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [ -n "$lsan" ] && [ -e "$lsan" ]; then
  LD_PRELOAD="$lsan" LSAN_OPTIONS=exitcode=23:report_objects=1 "$exe" "$@" >"$out" 2>&1
  code=$?
  cat "$out"
  if grep -q "LeakSanitizer has encountered a fatal error\|does not work under ptrace" "$out"; then
    echo "LeakSanitizer cannot run here; checking the memory bound alone"
  else
    [ "$code" -eq 0 ] && echo "LeakSanitizer: no leaks"
    exit "$code"
  fi
fi
"$exe" "$@"
