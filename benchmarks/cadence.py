"""Detection cadence A/B: recall vs exhaustive detection, overall and by face size.

    python -m benchmarks.cadence WORKDIR [SECONDS]     # default 30 s clips

Writes the sample clip at 768x432 and 720p and the quiet clip at 768x432 (30 fps) into
WORKDIR, then per clip and cadence — every 2nd frame (the default), every 3rd, and every
3rd but every 2nd for 30 frames after a face under ``detect.small_face_px`` in the
detector's input (``detect.every_n_frames=3``) — the recall of the default detector +
gate + tracker against the fp32 detector on every frame (scored as
:func:`benchmarks.realtime.recall` scores), the detections it ran, and its recall per face
height in the detector's input.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks import measure
from benchmarks.realtime import RECALL_IOU, SIZES, _score, cctv_clip, quiet_clip, run_lanes
from streamproc.core.config import Config, DetectConfig, config_from_dict
from streamproc.run.job import SAMPLE_CLIP
from streamproc.vision.bytetrack import iou_matrix

EDGES = (0, 12, 16, 20, 24, 32, 48)  # face height bins, detector-input px


def by_size(truth: list[np.ndarray], got: list[np.ndarray], scale: float) -> dict[str, str]:
    """found/total of the ``truth`` faces per height bin (detector-input px)."""
    total, found = np.zeros(len(EDGES), int), np.zeros(len(EDGES), int)
    for ref, mine in zip(truth, got, strict=True):
        if len(ref):
            bins = np.digitize((ref[:, 3] - ref[:, 1]) * scale, EDGES) - 1
            hit = iou_matrix(ref, mine).max(axis=1) >= RECALL_IOU if len(mine) else bins < 0
            np.add.at(total, bins, 1)
            np.add.at(found, bins, hit.astype(int))
    labels = [f"{a}-{b}" for a, b in zip(EDGES, EDGES[1:], strict=False)] + [f">={EDGES[-1]}"]
    return {lab: f"{f}/{t}" for lab, f, t in zip(labels, found, total, strict=True) if t}


def compare(clip: Path, config: Config, cadences: dict[str, DetectConfig], frames: int) -> None:
    """One pass over the clip: the exhaustive fp32 detector and, per cadence, the default
    detector + gate + tracker detecting the frames that cadence picks."""
    images = measure.decode_frames(clip, frames)
    every_frame = replace(config.detect, every_n_frames=1)
    exhaustive = replace(every_frame, motion_gate=False, precision="fp32")
    plans = {"exhaustive": (exhaustive, False, exhaustive)}
    plans |= {label: (every_frame, True, detect) for label, detect in cadences.items()}
    lanes = run_lanes(images, config, plans)
    truth = lanes.pop("exhaustive").boxes
    scale = config.detect.imgsz / max(images[0].shape[:2])
    for label, lane in lanes.items():
        row = _score(truth, lane.boxes, lane.detected)
        small = row["faces_le_34px"]
        print(
            f"{clip.stem} {label}: recall {100 * row['recall']:.2f} %, faces <= 34 px "
            f"{small['found']}/{small['total']}, detections {sum(lane.detected)} of "
            f"{len(images)}, by height in the detector's input {by_size(truth, lane.boxes, scale)}",
            flush=True,
        )


def main(argv: list[str]) -> None:
    work = Path(argv[0])
    work.mkdir(parents=True, exist_ok=True)
    frames = 30 * (int(argv[1]) if len(argv) > 1 else 30)
    clips = [
        cctv_clip(SAMPLE_CLIP, work / "sample-432p.mp4", SIZES["432p"], 30, frames),
        cctv_clip(SAMPLE_CLIP, work / "sample-720p.mp4", SIZES["720p"], 30, frames),
        quiet_clip(work / "quiet-432p.mp4", SIZES["432p"], 30, frames),
    ]
    base = config_from_dict({})
    cadences = {
        "every 2nd": replace(base.detect, every_n_frames=2, small_face_every_n=2),
        "every 3rd": replace(base.detect, every_n_frames=3, small_face_every_n=3),
        "every 3rd, 2nd for tiny faces": replace(base.detect, every_n_frames=3),
    }
    for clip in clips:
        compare(clip, base, cadences, frames)


if __name__ == "__main__":
    main(sys.argv[1:])
