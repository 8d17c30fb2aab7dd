#!/usr/bin/env bash
# The LOVE demo (engines/love) inside LOVE itself, under xvfb-run, in its scripted mode:
#  - the generated declarations match plugin/include/ddpm_plugin.h (make_cdef.py --check);
#  - a run shows a sprite from the live stream equal to the plugin's job for its seed and class
#    (streamed by the model's Live student, and with --no-student by the model itself), and a
#    class switch reaches the screen;
#  - no library, a library of another ABI, a missing model, an absent device, an unknown class and an unknown
#    option each put their message on screen (the screenshot has text on the error background)
#    and end with status 1.
# Usage: test_love.sh LOVE PLUGIN_LIBRARY FAKE_ABI_LIBRARY REPO_ROOT SCRATCH_DIR
set -uo pipefail
love=$1 lib=$2 fake=$3 root=$4 scratch=$5
rm -rf "$scratch" && mkdir -p "$scratch"
export HOME=$scratch/home XDG_DATA_HOME=$scratch/home/.local/share
python=/usr/bin/python3
model=$root/assets/emoji32/model.safetensors
failures=0

"$python" "$root/engines/love/make_cdef.py" --check || failures=$((failures + 1))

game() { # NAME ARGS...: runs the game, its stdout and stderr in $scratch/NAME.{out,err}
  local name=$1; shift
  timeout 180 sh "$root/tests/xvfb_run.sh" "$love" "$root/engines/love" "$@" \
    --screenshot "$scratch/$name.png" >"$scratch/$name.out" 2>"$scratch/$name.err"
}

# The default model has a Live student beside it: the game streams with it; --no-student keeps
# the model itself. Either way the sprite on screen is the plugin's job for its seed and class.
for run in play:student plain:model; do
  name=${run%%:*} kind=${run#*:} extra=()
  [[ $kind == model ]] && extra=(--no-student)
  game "$name" --library "$lib" --model "$model" --class smileys --seed-path fixed --seed 5 --frames 40 "${extra[@]}"
  status=$?
  streamed=model
  grep -q "streaming with the student" "$scratch/$name.out" && streamed=student
  if [[ $status -ne 0 ]]; then
    echo "FAIL the game ended with status $status"; cat "$scratch/$name.err"; failures=$((failures + 1))
  elif [[ $streamed != "$kind" ]]; then
    echo "FAIL $name: the game streamed with the wrong model:"; cat "$scratch/$name.out"; failures=$((failures + 1))
  elif "$python" "$root/tests/engines/love_check.py" "$scratch/$name.png" "$scratch/$name.out" "$lib" "$model"; then
    echo "ok   the game's sprite ($kind) equals the plugin's job"
  else
    failures=$((failures + 1))
  fi
done

# A class switch, as the number keys make it, reaches the screen and is measured.
game switch --library "$lib" --model "$model" --class flags --switch-to smileys --frames 5
status=$?
if [[ $status -eq 0 ]] && grep -q "class=6 " "$scratch/switch.out" &&
    grep -q "class switch to screen [0-9]* ms" "$scratch/switch.out"; then
  echo "ok   $(grep "class switch" "$scratch/switch.out")"
else
  echo "FAIL the class switch did not reach the screen (status $status):"
  cat "$scratch/switch.out" "$scratch/switch.err"; failures=$((failures + 1))
fi

expect_error() { # NAME "TEXT IN THE MESSAGE" ARGS...
  local name=$1 text=$2; shift 2
  game "$name" "$@" --frames 3
  local status=$?
  if [[ $status -ne 1 ]]; then
    echo "FAIL $name: status $status, not 1"; failures=$((failures + 1)); return
  fi
  if ! grep -q -- "$text" "$scratch/$name.err"; then
    echo "FAIL $name: the message lacks '$text':"; cat "$scratch/$name.err"; failures=$((failures + 1)); return
  fi
  # On screen: light text on the dark red error background.
  local lit
  lit=$("$python" -c "
import sys; sys.path.insert(0, '$root/tests/engines')
from love_check import read_png
img = read_png('$scratch/$name.png')
print(int(((img[..., 0] > 40) & (img[..., 0] < 50) & (img[..., 2] < 20)).mean() > 0.5), int((img.min(2) > 180).sum()))")
  if [[ ${lit% *} != 1 || ${lit#* } -lt 300 ]]; then
    echo "FAIL $name: the screenshot does not show the error screen with its message ($lit)"
    failures=$((failures + 1)); return
  fi
  echo "ok   $name: status 1, message on screen: $(head -1 "$scratch/$name.err")"
}

expect_error no_library "no plugin library at" --library "$scratch/missing/libddpm_plugin.so" --model "$model"
expect_error wrong_abi "ABI version 999" --library "$fake" --model "$model"
expect_error no_model "cannot load the model" --library "$lib" --model "$scratch/missing.safetensors"
expect_error bad_option "unknown option --bogus" --library "$lib" --bogus
expect_error bad_class "has no class 'dragons'" --library "$lib" --model "$model" --class dragons
expect_error bad_device "device 'cuda:99'" --library "$lib" --model "$model" --device cuda:99

[[ $failures -eq 0 ]] || { echo "test_love: $failures failure(s)"; exit 1; }
