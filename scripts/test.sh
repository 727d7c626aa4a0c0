#!/usr/bin/env bash
# Install (if needed) and run the test suite. Exit 5 from pytest (nothing collected) is
# reported as a failure: this project always has tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false
exec .venv/bin/python -m pytest -q "$@"
