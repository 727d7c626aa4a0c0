#!/usr/bin/env bash
# On the lent GPU machine (device tool), from the repository root, after
# scripts/gpu_carry.sh here: unpack .carry, then the generator's faces/s on the GPU and the
# pipeline end to end (benchmarks/gpu_e2e.py); results under $OUT. Extra arguments go to
# gpu_e2e.py (e.g. --sizes 1080p --seconds 6). Not yet run there (no GPU lent since it was written).
set -euo pipefail
out=${OUT:-/tmp/gpu_e2e}
providers=${PROVIDERS:-cuda}  # cpu: the same run on a machine without a GPU
mkdir -p /tmp/site "$out"
# Python's tarfile and lzma, not tar/xz: the image's tools are not guaranteed
python3 - <<'PY'
import lzma, shutil, tarfile
with tarfile.open(".carry/site.tar.xz") as archive:
    archive.extractall("/tmp/site", filter="data")
with lzma.open(".carry/detector.onnx.xz") as src, open("/tmp/detector.onnx", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
export PYTHONPATH=/tmp/site:$PWD YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false PYTHONUNBUFFERED=1
if [ "$providers" = cuda ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/nvidia_smi.csv"
fi
python3 -m benchmarks.gpu_generator --providers "$providers" --batches 1,8,32,128 --seconds 2 \
  --out "$out/gpu_generator.json"
python3 -m benchmarks.gpu_e2e --detector /tmp/detector.onnx \
  --detector-sha256 "$(cat .carry/detector.sha256)" --providers "$providers" --out "$out" \
  --seconds 12 "$@" 2>&1 | tee "$out/gpu_e2e.log"
