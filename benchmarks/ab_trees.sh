#!/usr/bin/env bash
# A/B of code versions: interleave checkouts of this repo, one default run (file + live) each.
#   bash benchmarks/ab_trees.sh CLIP ROUNDS TREE [TREE ...]
# TREE: a checkout (e.g. `git worktree add /tmp/base COMMIT`); each runs with its own
# streamproc on PYTHONPATH and this checkout's .venv and benchmarks/ab_speed.py (copied in
# if the tree's is older). Prints one JSON row per run, prefixed with the tree's name.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
clip=$1 rounds=$2
shift 2
for tree in "$@"; do
  [ "$tree/benchmarks/ab_speed.py" -ef "$here/benchmarks/ab_speed.py" ] ||
    cp "$here/benchmarks/ab_speed.py" "$tree/benchmarks/ab_speed.py"
done
for _ in $(seq 1 "$rounds"); do
  for tree in "$@"; do
    (cd "$tree" && PYTHONPATH="$tree" "$here/.venv/bin/python" -m benchmarks.ab_speed "$clip" 1 default 2>/dev/null |
      sed "s|^|$(basename "$tree") |")
  done
done
