"""Throughput of ``streamproc batch`` (frames/s) with 1 and 2 Ray workers on synthetic clips.

    python -m benchmarks.bench_batch --clips 4 --frames 96 --workers 1 2
    python -m benchmarks.bench_batch --clips 8 --frames 12 --workers 1   # per-task cost

Wall time includes starting and stopping the local Ray cluster and each worker's first
model load, which is what a user of the command waits for. ``task_s``: the time between
one file's result and the next (with one worker: what each file after the first costs,
start-up of the job included); its median is ``task_s_median``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")


def make_clips(folder: Path, count: int, frames: int) -> list[Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from synth import write_clip

    paths = []
    for i in range(count):
        paths.append(folder / f"clip{i}.mp4")
        write_clip(paths[-1], n_frames=frames, n_faces=1 + i % 2, face_px=80)
    return paths


def run(clips: list[Path], workers: int, out_dir: Path, overrides: list[str]) -> dict:
    from streamproc.core.config import load_config
    from streamproc.scale.batch import BatchOptions, run_batch

    options = BatchOptions(out_dir=out_dir, workers=workers)
    done_s: list[float] = []
    start = time.monotonic()
    results = run_batch(
        map(str, clips),
        load_config(None, overrides),
        options,
        on_result=lambda _: done_s.append(time.monotonic()),
    )
    wall_s = time.monotonic() - start
    gaps = [b - a for a, b in zip(done_s, done_s[1:], strict=False)]
    frames = sum(r.frames for r in results)
    assert all(r.status == "finished" for r in results), [r.error for r in results]
    return {
        "workers": workers,
        "frames": frames,
        "wall_s": round(wall_s, 2),
        "frames_per_s": round(frames / wall_s, 2),
        "task_fps": [r.fps for r in results],
        "first_result_s": round(done_s[0] - start, 2) if done_s else None,
        "task_s": [round(g, 3) for g in gaps],
        "task_s_median": round(statistics.median(gaps), 3) if gaps else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=["detect.imgsz=320"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp), args.clips, args.frames)
        rows = [run(clips, n, Path(tmp) / f"out{n}", args.overrides) for n in args.workers]
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
