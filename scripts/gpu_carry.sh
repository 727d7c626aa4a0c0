#!/usr/bin/env bash
# Pack what the lent GPU machine lacks into .carry/ (git-ignored; 35 MB, which with the
# repository stays under the device tool's 64 MiB): PyAV and lap for its Python 3.12, as
# an unpacked tree (xz: the PyAV wheel is 36 MB, its tree 25 MB compressed), and the
# faceghost detector ONNX (AGPL-3.0, installed here by scripts/install.sh; carried for a
# measurement, not redistributed) with its sha256 (PYTHON_VERSION=3.11 packs for this
# machine: how the unpacking is tried here). Then, with the device tool:
#   run(command="bash benchmarks/gpu_e2e.sh", carry=[".carry"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
version() { "$py" -c "import importlib.metadata as m; print(m.version('$1'))"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version "${PYTHON_VERSION:-3.12}" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$work/whl" "av==$(version av)" "lap==$(version lap)"
mkdir -p "$work/site" .carry
for wheel in "$work"/whl/*.whl; do
  "$py" -m zipfile -e "$wheel" "$work/site"
done
tar -C "$work/site" -cf - . | xz -9 -T0 > .carry/site.tar.xz
detector=$("$py" -c "from streamproc.vision.detect import default_detector_path; print(default_detector_path()[0])")
xz -9 -c "$detector" > .carry/detector.onnx.xz
sha256sum "$detector" | cut -d' ' -f1 > .carry/detector.sha256
du -sh .carry
