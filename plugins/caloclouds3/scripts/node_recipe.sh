#!/usr/bin/env bash
# CaloClouds3 from nothing on one node in one short job: the data made on the node's CPU cores,
# the three networks trained on its accelerator, the model calibrated, saved and exported.
#
#   plugins/caloclouds3/scripts/node_recipe.sh OUT [DEVICE]        # DEVICE: cuda (default) or cpu
#
# OUT receives model/ (weights in files of at most 16 MiB), caloclouds3.pt (TorchScript) and the
# logs; the data and work folders stay in WORK (default OUT/work). Every size is a variable, e.g.
#
#   N_POINTS=20000 N_FLOW=60000 FLOW_STEPS=4000 TEACHER_STEPS=20000 DISTILL_STEPS=8000 \
#       plugins/caloclouds3/scripts/node_recipe.sh out cuda
#
# The defaults below are sized from CPU measurements (docs/caloclouds3.md, "Training
# throughput"), not from a GPU run: check the stage logs (WORK/*/log.jsonl) of a first job and
# scale. Every stage resumes, so a job cut off by its time limit continues where it stopped when
# run again with the same OUT.
set -euo pipefail

OUT=${1:?usage: node_recipe.sh OUT [DEVICE]}
DEVICE=${2:-cuda}
WORK=${WORK:-$OUT/work}
WORKERS=${WORKERS:-$(nproc)}
SEED=${SEED:-1}
N_POINTS=${N_POINTS:-12000}        # preset showers with their points (teacher, distillation)
N_FLOW=${N_FLOW:-30000}            # extra log-uniform showers for the flow (summaries only)
N_CALIB=${N_CALIB:-1000}           # fresh preset showers for the calibration
FLOW_STEPS=${FLOW_STEPS:-3000}
TEACHER_STEPS=${TEACHER_STEPS:-8000}
DISTILL_STEPS=${DISTILL_STEPS:-4000}
PHYSICS=${PHYSICS:-2}              # the reference MC's physics version of the shipped model
CALIBRATION=${CALIBRATION:--C per_layer=true}

mkdir -p "$OUT" "$WORK"
simulate() { calozoo simulate "$@" --physics-version "$PHYSICS" --workers "$WORKERS" --scheduler pool --no-progress; }
train() { calozoo train caloclouds3 --work "$WORK/run" --seed "$SEED" "$@"; }

# 1. data, on every CPU core (showers of one seed are the same whatever the number of workers)
simulate "$WORK/points" -n "$N_POINTS" --preset cc3-training --seed "$SEED"
simulate "$WORK/flow-extra" -n "$N_FLOW" --energy log:1:127 --seed "$((SEED + 1000))"
simulate "$WORK/calib" -n "$N_CALIB" --preset cc3-training --seed "$((SEED + 2000))"
mkdir -p "$WORK/summaries"
train --data "$WORK/points" --stage summarise -o "$WORK/summaries/points.h5"
train --data "$WORK/flow-extra" --stage summarise -o "$WORK/summaries/extra.h5"

# 2. the flow (on the summaries of both sets) and the teacher side by side on the device
train --data "$WORK/summaries" --stage flow --steps "$FLOW_STEPS" --device "$DEVICE" > "$OUT/flow.log" 2>&1 &
flow=$!
train --data "$WORK/points" --stage teacher --steps "$TEACHER_STEPS" --device "$DEVICE" > "$OUT/teacher.log" 2>&1
wait "$flow"

# 3. the one-step student, the model, its calibration for the barrel, the export
train --data "$WORK/points" --stage distill --steps "$DISTILL_STEPS" --device "$DEVICE" > "$OUT/distill.log" 2>&1
train --stage assemble -o "$OUT/model"
# shellcheck disable=SC2086  # CALIBRATION holds several words on purpose
train --stage calibrate -o "$OUT/model" --reference "$WORK/calib" --geometry ild-ecal-barrel $CALIBRATION \
    > "$OUT/calibrate.log" 2>&1
python -c "import calozoo, sys; calozoo.load('caloclouds3', path=sys.argv[1]).export(sys.argv[2])" \
    "$OUT/model" "$OUT/caloclouds3.pt"
echo "wrote $OUT/model and $OUT/caloclouds3.pt"
