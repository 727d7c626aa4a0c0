#!/usr/bin/env bash
# The exact training run of the shipped streamproc/models/face_lite.onnx (2026-12-01, on the
# project's 2-core CPU VM, no GPU; ~1.4 h of CPU in all). Data: train/recipes/faces.sh.
#   bash train/recipes/faces.sh data/faceset && bash train/recipes/train_faces_lite.sh
set -euo pipefail
PY=${PYTHON:-.venv/bin/python}
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false
# 1. From scratch on the 664 training people: L1 + EfficientNet-Lite0 perceptual + GAN +
#    SFace identity; stops at its 45-minute budget (9 epochs of 1,328 degraded crops).
$PY -m train.cli --config configs/train_faces_lite.yaml
# 2. Lower learning rate from step 1's best.pt (best validation PSNR, epoch 7). On
#    2026-12-01 this was stopped by hand after 4 epochs when validation PSNR had flattened
#    (22.45, 22.47, 22.46, 22.42 dB); its best.pt (epoch 2) ships.
$PY -m train.cli --config configs/train_faces_lite.yaml --set run_dir=runs/faces_lite_ft \
    --set init_from=runs/faces_lite/checkpoints/best.pt --set optim.lr=1.0e-4 \
    --set optim.lr_step_epochs=3 --set max_minutes=40
# 3. Export (parity-checked against torch; writes the .sha256 sidecar).
$PY -m export.cli runs/faces_lite_ft/checkpoints/best.pt -o streamproc/models/face_lite.onnx
