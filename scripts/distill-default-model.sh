#!/usr/bin/env bash
# Distils the default model into assets/emoji32/student.safetensors, the studio's Live model
# (tests/bench/NOTES.md, distillation):
#
# 1. Guidance (the committed student): a student of assets/emoji32/model.safetensors that takes
#    the guidance scale (1 to 5) as an input, one forward per guided step, with any sampler (lr
#    5e-5: higher rates drift away from the teacher faster than they learn), on whole images
#    like its teacher's last stage. MINUTES (default 15) of the 2-core CPU; TEACHER names
#    another teacher than the committed model.
# 2. Only with STEPS=N: from that student, one that makes an image in N first-order DPM-Solver++
#    SDE steps (on the tuned grid at 4 and 5 steps), each learnt from 5 DPM-Solver++ 2M SDE
#    steps of the round-1 student, shipped instead. Not committed: on the 2-core CPU every run
#    so far scored below round 1 sampled with 4 DPM-Solver++ 2M SDE steps (tests/bench/NOTES.md,
#    "Step distillation's teacher and grid"); it is the GPU's job (STEPS=4 MINUTES=...).
#
# Needs the training folder of train-default-model.sh (out/default-model/emoji32; run that
# script's first part, or give another folder as $1). Resumable: each round checkpoints under
# out/distill-default/, and a finished round is not run again.
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-out/default-model/emoji32}
work=out/distill-default
minutes=${MINUTES:-15}
mkdir -p "$work/guidance" "$work/steps"
[ -d "$folder" ] || { echo "no training folder $folder: run scripts/train-default-model.sh first" >&2; exit 1; }
[ -x build/host/ddpm ] || bash scripts/build.sh build

if [ ! -f "$work/guidance/model.safetensors" ]; then
  ./build/host/ddpm train "$folder" --init "${TEACHER:-assets/emoji32/model.safetensors}" --distill \
    --batch 32 --lr 5e-5 --flip --crop 0 --seed 1 --minutes "$minutes" --checkpoint "$work/guidance/checkpoint.pt" \
    --samples "$work/guidance/samples" --out "$work/guidance/model.safetensors"
fi
result=$work/guidance/model.safetensors
if [ "${STEPS:-0}" -gt 0 ]; then
  result=$work/steps/model.safetensors
  [ -f "$result" ] || ./build/host/ddpm train "$folder" --init "$work/guidance/model.safetensors" --distill \
    --distill-steps "$STEPS" --distill-substeps 5 --distill-sde --batch 32 --flip --seed 2 \
    --minutes "$minutes" --checkpoint "$work/steps/checkpoint.pt" --samples "$work/steps/samples" \
    --out "$result"
fi
cp "$result" assets/emoji32/student.safetensors
echo "wrote assets/emoji32/student.safetensors"
