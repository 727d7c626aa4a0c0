"""Several cameras: one shared (batched) pipeline vs one pipeline per camera.

    python -m benchmarks.bench_multi                       # 1, 2, 4, 8 cameras, 640x360
    python -m benchmarks.bench_multi --cameras 1 2 --frames 48 --width 1280 --height 720

Each camera is its own synthetic clip (real faces, different seeds). Three ways to run N
cameras, all to null output and all timed from start to the last frame written (model
loading excluded, it is paid once per pipeline in every case):

* ``shared``: one ``Pipeline``: N readers, one detector + enhancer batching across
  cameras, N writers (what ``streamproc run A B ...`` does);
* ``sequential``: one ``Job`` per camera, one after the other;
* ``concurrent``: one ``Job`` per camera, all running at once in this process.

Prints total fps (all cameras' frames / wall time) and the gain of ``shared`` over each.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.clips import ClipSpec, write_synthetic
from streamproc.core.config import load_config
from streamproc.run.job import Job


def run_shared(clips: list[Path], overrides: list[str]) -> float:
    job = Job([str(c) for c in clips], load_config(None, overrides), "null")
    t0 = time.perf_counter()
    job.start()
    job.pipeline.join()
    elapsed = time.perf_counter() - t0
    summaries = job.finish("finished")
    return sum(s["frames_out"] for s in summaries) / elapsed


def run_separate(clips: list[Path], overrides: list[str], concurrent: bool) -> float:
    jobs = [Job([str(c)], load_config(None, overrides), Path("null")) for c in clips]
    frames = 0
    t0 = time.perf_counter()
    if concurrent:
        for job in jobs:
            job.start()
        for job in jobs:
            job.pipeline.join()
    for job in jobs:
        if not concurrent:
            job.start()
            job.pipeline.join()
        frames += job.finish("finished")[0]["frames_out"]
    return frames / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--frames", type=int, default=48, help="frames per camera")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-concurrent", action="store_true", help="skip the concurrent run")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs of each case; the best is kept (noise)"
    )
    args = parser.parse_args(argv)
    overrides = ["detect.imgsz=640", *args.overrides]
    print(f"cpu cores: {os.cpu_count()}; {args.width}x{args.height}, {args.frames} frames/camera")
    print(f"config overrides: {overrides}")
    header = f"{'cameras':>7} {'shared fps':>10} {'sequential':>10} {'concurrent':>10}"
    print(header + f" {'gain vs seq':>11} {'gain vs conc':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        clips = [
            write_synthetic(
                Path(tmp) / f"cam{i}.mp4",
                ClipSpec(args.width, args.height, args.frames, faces=(1, 2), seed=i),
            )
            for i in range(max(args.cameras))
        ]
        run_shared(clips[:1], overrides)  # warm up (first model load, caches)
        for n in args.cameras:
            shared = sequential = concurrent = 0.0
            for _ in range(args.repeat):  # interleaved, so a noisy neighbour hits all three
                shared = max(shared, run_shared(clips[:n], overrides))
                sequential = max(sequential, run_separate(clips[:n], overrides, False))
                if not args.no_concurrent:
                    concurrent = max(concurrent, run_separate(clips[:n], overrides, True))
            concurrent = concurrent or float("nan")
            print(
                f"{n:>7} {shared:>10.1f} {sequential:>10.1f} {concurrent:>10.1f}"
                f" {shared / sequential:>10.2f}x {shared / concurrent:>11.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
