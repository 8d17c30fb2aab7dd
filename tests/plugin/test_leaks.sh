#!/bin/sh
# Runs test_leaks under LeakSanitizer when the runtime is there and works on this machine
# (LSan stops the process's threads with ptrace, which some containers forbid: then the leak
# check is reported as not run), then without it for the resident-memory bound, which must hold
# with glibc's own allocator (LSan's allocator would hide what glibc keeps).
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
    [ "$code" -eq 0 ] || exit "$code"
    echo "LeakSanitizer: no leaks; now the memory bound with glibc's allocator"
  fi
fi
"$exe" "$@"
