#!/usr/bin/env bash
# The training run of the PREVIOUS (retired 2026-12-01) face_lite.onnx (2026-11-25, one
# NVIDIA H100; on a CPU the same commands run, ~300x slower). Data: lite_offline.sh.
#   bash train/recipes/lite_offline.sh runs/data && bash train/recipes/train_lite.sh
set -euo pipefail
PY=${PYTHON:-python}
C="--config configs/train_lite.yaml --set data.val_path=runs/data/faces_heldout \
   --set data.num_workers=14 --set data.batch_size=64 --set epochs=2000"
# 1. Pre-train on 4,080 generic patches (real surveillance video, video, photos).
$PY -m train.cli $C --set run_dir=runs/lite_pre --set data.train_path=runs/data/patches \
    --set data.repeat=2 --set max_minutes=5.5 --set optim.lr_step_epochs=40 \
    --set checkpoint_every=1000
# 2. Fine-tune on the 21 real faces with the two outer U-Net levels frozen. On the held-out
#    faces this made the model worse (over-fitting 21 faces), so step 1's last.pt ships.
$PY -m train.cli $C --set run_dir=runs/lite_ft --set init_from=runs/lite_pre/checkpoints/last.pt \
    --set freeze_levels=2 --set data.train_path=runs/data/faces --set data.repeat=100 \
    --set max_minutes=2 --set optim.lr=5.0e-5 --set optim.lr_step_epochs=1000 \
    --set checkpoint_every=1000
# 3. Export (parity-checked against torch; writes the .sha256 sidecar).
$PY -m export.cli runs/lite_pre/checkpoints/last.pt -o streamproc/models/face_lite.onnx
