"""Throughput of ``streamproc fleet`` (frames/s) with the same cameras in 1 or more actors.

    python -m benchmarks.bench_fleet --cameras 4 --frames 96 --groups 1 2

Files stand in for cameras (every frame is processed, so the work is identical in each
row). Wall time includes starting the local Ray cluster, each actor's model load and the
final manifests, which is what a user of the command waits for; ``pipeline_fps`` is the
sum over groups of frames per second while the pipelines ran.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.bench_batch import make_clips


def run(clips: list[Path], groups: int, out_dir: Path, overrides: list[str]) -> dict:
    from streamproc.core.config import load_config
    from streamproc.scale.fleet import FleetOptions, plan_groups, run_fleet

    per_group = -(-len(clips) // groups)
    plan = plan_groups([str(c) for c in clips], per_group)
    options = FleetOptions(out_dir=out_dir, status_interval_s=0.5)
    start = time.monotonic()
    summary = run_fleet(plan, load_config(None, overrides), options, threading.Event())
    wall_s = time.monotonic() - start
    assert all(g["state"] == "ended" for g in summary["groups"]), summary
    frames = summary["totals"]["frames"]
    group_fps = [sum(c["fps"] for c in g["cameras"]) for g in summary["groups"]]
    return {
        "groups": len(plan),
        "cameras_per_group": per_group,
        "frames": frames,
        "wall_s": round(wall_s, 2),
        "frames_per_s": round(frames / wall_s, 2),
        "pipeline_fps": round(sum(group_fps), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=["detect.imgsz=320"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp), args.cameras, args.frames)
        rows = [run(clips, n, Path(tmp) / f"out{n}", args.overrides) for n in args.groups]
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
