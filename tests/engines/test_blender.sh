#!/usr/bin/env bash
# The Blender add-on inside Blender itself (headless): zip it as users get it, install it into a
# private user-scripts folder and run tests/engines/blender_addon_test.py.
# Then, with a window under xvfb-run (when it is installed), the Generate button's modal path.
# Usage: test_blender.sh BLENDER PLUGIN_LIBRARY REPO_ROOT SCRATCH_DIR
set -euo pipefail
blender=$1 lib=$2 root=$3 scratch=$4
rm -rf "$scratch" && mkdir -p "$scratch/home"
/usr/bin/python3 "$root/engines/blender/make_addon.py" "$scratch/ddpm_blender.zip" --library "$lib" >/dev/null
# Nothing of the user's Blender set-up is read or written.
export BLENDER_USER_SCRIPTS="$scratch/home/scripts" BLENDER_USER_CONFIG="$scratch/home/config"
export HOME="$scratch/home"
"$blender" -b --factory-startup --python-exit-code 1 --python "$root/tests/engines/blender_addon_test.py" \
  -- "$scratch/ddpm_blender.zip" "$root/assets/samples" "$scratch" 2>&1 | tee "$scratch/log.txt"
status=${PIPESTATUS[0]}
if grep -q "Traceback" "$scratch/log.txt"; then
  echo "test_blender: a Python traceback was printed" >&2
  exit 1
fi
[[ $status -eq 0 ]] || exit "$status"
command -v xvfb-run >/dev/null || { echo "test_blender: no xvfb-run, window test not run"; exit 0; }
# A file given on the command line: Blender opens without its splash screen.
"$blender" -b --factory-startup --python-expr \
  "import bpy; bpy.ops.wm.save_as_mainfile(filepath='$scratch/empty.blend')" >/dev/null
timeout 240 sh "$root/tests/xvfb_run.sh" "$blender" "$scratch/empty.blend" \
  --python-exit-code 1 --python "$root/tests/engines/blender_ui_test.py" -- "$root/engines/blender" "$lib" \
  "$root/assets/emoji32/model.safetensors" "$scratch/blender-ui.png" 2>&1 | tee "$scratch/ui-log.txt"
status=${PIPESTATUS[0]}
if grep -q "Traceback" "$scratch/ui-log.txt"; then
  echo "test_blender: a Python traceback was printed in the window test" >&2
  exit 1
fi
exit "$status"
