"""Where the CPU goes: CPU time per thread of one default file run, in ms per frame.

    python -m benchmarks.thread_cpu CLIP [--set KEY=VALUE ...]

The engine's threads by name (``streamproc-shared-detect``, ``-shared-enhance``,
``-read``, ``-write``); native threads (OpenVINO's and ONNX Runtime's workers, x264's frame
and lookahead threads, the decoder's) by their OS name and id. Read from
/proc/self/task/*/stat (Linux), polled during the run so threads that end are counted too.
The stage timings of the manifest are wall time inside each stage; on two shared cores
they include waiting for the CPU, which this does not.
"""

from __future__ import annotations

import argparse
import os
import re
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from benchmarks import measure
from streamproc.core.config import apply_overrides, config_from_dict
from streamproc.run.job import Job

POLL_S = 0.2


def thread_times() -> dict[int, tuple[str, float]]:
    """tid -> (OS thread name, user + system CPU seconds so far) of this process."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/self/task/{tid}/comm") as fh:
                name = fh.read().strip()
        except OSError:  # the thread ended between listing and reading
            continue
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


class ThreadNames:
    """Python thread names by native id, for the threads started while it is active."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self._start = threading.Thread.start

    def __enter__(self) -> ThreadNames:
        original, names = self._start, self.names

        def start(thread: threading.Thread) -> None:
            original(thread)
            names[thread.native_id] = thread.name

        threading.Thread.start = start  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        threading.Thread.start = self._start  # type: ignore[method-assign]


def profile(clip: Path, overrides: list[str]) -> tuple[dict, dict[str, float]]:
    """(the run's summary, CPU seconds per thread label) of one file run."""
    config = config_from_dict(apply_overrides({}, overrides))
    with TemporaryDirectory() as work:
        job = Job([str(clip)], config, Path(work) / "out.mp4")
        before = thread_times()
        latest: dict[int, tuple[str, float]] = {}
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                latest.update(thread_times())
                time.sleep(POLL_S)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        with ThreadNames() as named:
            run = measure.run_job(job)
        done.set()
        poller.join()
        latest.update(thread_times())
    cpu: dict[str, float] = {}
    for tid, (os_name, seconds) in latest.items():
        if tid == poller.native_id:
            continue
        if tid in named.names:  # numbered per camera/worker: one row per kind
            label = re.sub(r"[-_]?\d+$", "", named.names[tid])
        else:
            label = f"native {os_name} [{tid}]"
        cpu[label] = cpu.get(label, 0.0) + seconds - before.get(tid, (os_name, 0.0))[1]
    return run, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    run, cpu = profile(args.clip, args.overrides)
    frames = max(1, run["frames"])
    total = sum(cpu.values())
    print(
        f"{args.clip.name}: {run['frames']} frames, {run['fps']:.1f} fps, "
        f"CPU {1000 * total / frames:.1f} ms a frame"
    )
    for label, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        if 1000 * seconds / frames >= 0.1:
            print(f"  {label:44s} {1000 * seconds / frames:6.1f} ms a frame")


if __name__ == "__main__":
    main()
