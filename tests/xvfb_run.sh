#!/bin/sh
# xvfb_run.sh COMMAND ARGS...: runs COMMAND under xvfb-run (a 1280x720x24 screen) and exits with
# COMMAND's own status. xvfb-run's status can be its own: CI once saw it exit 5 ("problem while
# cleaning up temporary directory") after the studio had ended correctly, which failed a test
# whose program was right. So the program's status is written to a file from inside the X
# session; xvfb-run's is used only when the program never ran (Xvfb did not start), and then
# the start is tried again, since two `xvfb-run -a` can race for one display number.
rc_file=$(mktemp "${TMPDIR:-/tmp}/ddpm-xvfb-rc.XXXXXX") || exit 1
trap 'rm -f "$rc_file"' EXIT
for attempt in 1 2 3; do
  : >"$rc_file"
  xvfb-run -a -s "-screen 0 1280x720x24" sh -c '"$@"; echo $? >"$0"' "$rc_file" "$@"
  xvfb_status=$?
  if [ -s "$rc_file" ]; then
    status=$(cat "$rc_file")
    if [ "$xvfb_status" -ne 0 ] && [ "$xvfb_status" -ne "$status" ]; then
      echo "xvfb_run.sh: xvfb-run exited $xvfb_status after the program ended with $status;" \
        "the program's status is kept" >&2
    fi
    exit "$status"
  fi
  echo "xvfb_run.sh: xvfb-run exited $xvfb_status before the program ran (attempt $attempt)" >&2
  sleep 2
done
exit "$xvfb_status"
