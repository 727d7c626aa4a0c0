"""A/B of ``detect.every_n_frames`` on the real-time bench's clips: fps and recall.

    python -m benchmarks.every_n WORKDIR [N ...]     # default: 2 3

Writes the bench's 12 s clips (768x432 and 720p, sample and quiet) into WORKDIR, then per
clip: two interleaved rounds of the default pipeline with each N (fps), and the recall vs
exhaustive detection of each N (benchmarks.realtime.recall).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from benchmarks import measure
from benchmarks.realtime import SIZES, cctv_clip, quiet_clip, recall
from streamproc.core.config import config_from_dict
from streamproc.run.job import SAMPLE_CLIP, Job


def main(argv: list[str]) -> None:
    work = Path(argv[0])
    work.mkdir(parents=True, exist_ok=True)
    values = [int(v) for v in argv[1:]] or [2, 3]
    base = config_from_dict({})
    for size in ("432p", "720p"):
        clips = [work / f"sample-{size}.mp4", work / f"quiet-{size}.mp4"]
        if not clips[0].exists():
            cctv_clip(SAMPLE_CLIP, clips[0], SIZES[size], 30, 360)
        if not clips[1].exists():
            quiet_clip(clips[1], SIZES[size], 30, 360)
        for clip in clips:
            configs = {
                n: replace(base, detect=replace(base.detect, every_n_frames=n)) for n in values
            }
            for rnd in range(2):
                for n, cfg in configs.items():
                    fps = measure.run_job(Job([str(clip)], cfg, work / f"n{n}.mp4"))["fps"]
                    print(f"{clip.stem} every_n {n} round {rnd}: {fps:.1f} fps", flush=True)
            for n, cfg in configs.items():
                got = recall(clip, cfg, 360)["default"]
                print(
                    f"{clip.stem} every_n {n}: recall {got['recall']:.4f}, "
                    f"faces <= 34 px {got['recall_faces_le_34px']}",
                    flush=True,
                )


if __name__ == "__main__":
    main(sys.argv[1:])
