#!/usr/bin/env bash
# The Blender add-on inside Blender itself (headless): zip it as users get it, install it into a
# private user-scripts folder and run tests/engines/blender_addon_test.py.
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
exit "$status"
