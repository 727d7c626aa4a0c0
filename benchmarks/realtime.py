"""Is the default pipeline real time on this machine? Issue #15's figures, in one run.

    streamproc-bench --quick                  # includes this section
    streamproc-bench --realtime-only          # only this section (~1-2 min on 2 cores)
    streamproc-bench --realtime-only --clip store-camera.mp4

Every figure is a ratio or a count measured within the run, so a busy shared machine
shifts both sides of a ratio alike:

- ``e2e_over_ceiling``: frames/s of the default ``streamproc run`` pipeline (file output)
  over frames/s of decode + re-encode alone (the same reader and writer, no stages).
- ``recall_vs_exhaustive``: of the faces the detector finds when it runs on every frame at
  full size (motion gate off, every_n_frames=1), the share the default pipeline outputs
  on the same frame (detector + gate + tracker, IoU >= 0.3); with its detect ms per frame;
  and precision: the share of its output boxes that match an exhaustive detection (all,
  and those carried on the frames between detections).
- live: the clip paced at its own fps as a live camera; dropped % and latency p95.
- fast walkers: recall (as above, and of the faces drawn) on the quiet 432p clip with its
  walkers twice as fast, so faces that cross their width between detections are measured.
- ``startup_s``: a fresh ``python -m streamproc run`` of a one-frame clip, spawn to exit
  (an upper bound on time to first frame), and whether it imported torch.
- detector backends: ms per 640-letterboxed frame, ONNX Runtime vs OpenVINO.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from benchmarks import measure
from benchmarks.paced import PacedSource
from streamproc.core.cadence import DetectionCadence
from streamproc.core.config import Config, DetectConfig, config_from_dict
from streamproc.core.errors import ModelError
from streamproc.core.packet import FramePacket
from streamproc.io.sources import open_source
from streamproc.run.job import Job
from streamproc.vision.bytetrack import iou_matrix
from streamproc.vision.detect import FaceDetector
from streamproc.vision.track import FaceTracker

RECALL_IOU = 0.3
SIZES = {"432p": (768, 432), "720p": (1280, 720)}
# The quiet clip's walkers this many times as fast (2-6 px a frame): recall on faces that
# cross their width between detections (RESULTS.md, "Fast faces").
FAST_WALKERS = 2.0


def cctv_clip(src: Path, dst: Path, size: tuple[int, int], fps: int, frames: int) -> Path:
    """``src`` scaled to ``size`` and played forward, backward, forward... to ``frames``
    frames at ``fps`` (a static camera: no cut where it loops), H.264 CRF 18."""
    with av.open(str(src)) as reader:
        images = [f.to_ndarray(format="bgr24") for f in reader.decode(video=0)]
    images = [cv2.resize(im, size, interpolation=cv2.INTER_AREA) for im in images]
    cycle = images + images[-2:0:-1]
    with av.open(str(dst), mode="w") as writer:
        stream = writer.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(cycle[index % len(cycle)], format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in stream.encode(frame):
                writer.mux(packet)
        for packet in stream.encode(None):
            writer.mux(packet)
    return dst


@dataclass(frozen=True)
class _Walker:
    """One person of :func:`quiet_clip`: a face sprite (over a body) walking across."""

    face: np.ndarray
    alpha: np.ndarray
    speed_px: float  # per frame; negative: right to left
    start: int
    period: int
    y: int
    stops: bool  # walks to the middle, stands still for 4 s, walks on


def _walkers(
    size: tuple[int, int], fps: int, rng: np.random.Generator, pace: float = 1.0
) -> list[_Walker]:
    """Three people; ``pace`` scales their 1, 2 and 3 px a frame."""
    from benchmarks.clips import _face_sprites

    width = size[0]
    people = []
    for i, (face, alpha) in enumerate(_face_sprites(rng, 3)):
        face_px = int(rng.integers(28, 41))
        scale = face_px / face.shape[0]
        face = cv2.resize(face, (max(2, round(face.shape[1] * scale)), face_px))
        alpha = cv2.resize(alpha, (face.shape[1], face_px))[:, :, None]
        speed = [1.0, 2.0, 3.0][i] * pace * (1 if i % 2 == 0 else -1)
        start = int(rng.integers(0, 2 * fps))
        # Walk across, (person 0: stop for 4 s on the way), 1 s off screen, again.
        period = int((width + face.shape[1]) / abs(speed)) + (4 * fps if i == 0 else 0) + fps
        y = int(size[1] * (0.2 + 0.2 * i))
        people.append(_Walker(face, alpha, speed, start, period, y, i == 0))
    return people


def _walker_x(person: _Walker, index: int, size: tuple[int, int], fps: int) -> int | None:
    """Left edge of ``person``'s face on frame ``index``; None when not in the picture."""
    width, height = size
    if index < person.start:
        return None
    t = (index - person.start) % person.period
    if person.stops:
        t = t if t < width // 3 else max(width // 3, t - 4 * fps)
    speed = person.speed_px
    x = int(t * speed) if speed > 0 else int(width + t * speed)
    h, w = person.face.shape[:2]
    if not 0 <= x <= width - w or person.y + 4 * h > height:
        return None
    return x


def quiet_clip(
    dst: Path, size: tuple[int, int], fps: int, frames: int, seed: int = 0, speed: float = 1.0
) -> Path:
    """A static camera: a still scene with sensor noise; people (a face of 28-40 px over a
    body) walk across, 1-3 px per frame (times ``speed``), again and again, and one stops
    for 4 s on the way each time. :func:`quiet_faces` says where the faces are drawn."""
    from benchmarks.clips import _scene

    rng = np.random.default_rng(seed)
    width, height = size
    scene = _scene(width, height, rng)
    people = _walkers(size, fps, rng, speed)
    colours = [(60, 60, 140), (120, 90, 40), (50, 110, 60)]
    with av.open(str(dst), mode="w") as writer:
        stream = writer.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "ultrafast"}
        for index in range(frames):
            image = scene.copy()
            for i, person in enumerate(people):
                x = _walker_x(person, index, size, fps)
                if x is None:
                    continue
                h, w = person.face.shape[:2]
                y = person.y
                cv2.rectangle(
                    image, (x - w // 2, y + h), (x + w + w // 2, y + 4 * h), colours[i], -1
                )
                region = image[y : y + h, x : x + w]
                region += (person.face.astype(np.float32) - region) * person.alpha
            image = image + rng.normal(0, 2.5, image.shape[:2])[:, :, None]
            frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), "bgr24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in stream.encode(frame):
                writer.mux(packet)
        for packet in stream.encode(None):
            writer.mux(packet)
    return dst


def quiet_faces(
    size: tuple[int, int], fps: int, frames: int, seed: int = 0, speed: float = 1.0
) -> list[np.ndarray]:
    """Per frame of :func:`quiet_clip` (same arguments), the xyxy boxes of the face sprites
    drawn: the truth a carried box is checked against (is a face still there?)."""
    from benchmarks.clips import _scene

    rng = np.random.default_rng(seed)
    _scene(size[0], size[1], rng)  # the same random draws as quiet_clip, in its order
    people = _walkers(size, fps, rng, speed)
    out = []
    for index in range(frames):
        boxes = []
        for person in people:
            x = _walker_x(person, index, size, fps)
            if x is not None:
                h, w = person.face.shape[:2]
                boxes.append([x, person.y, x + w, person.y + h])
        out.append(np.array(boxes, float).reshape(-1, 4))
    return out


@dataclass
class _Lane:
    """One way of detecting the clip: its stages, what they output per frame, its time.
    ``cadence``: which frames it detects, as the engine picks them for a file."""

    detector: FaceDetector
    tracker: FaceTracker | None
    cadence: DetectionCadence
    boxes: list[np.ndarray] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)
    busy_s: float = 0.0

    def step(self, index: int, image: np.ndarray) -> None:
        packet = FramePacket(index, index, Fraction(1, 30), image, 0.0)
        self.detected.append(self.cadence.due())
        if self.detected[-1]:
            t0 = time.perf_counter()
            self.detector.process([packet])
            self.busy_s += time.perf_counter() - t0
            self.cadence.observe(packet)
        self.cadence.advance(self.detected[-1])
        if self.tracker is not None:
            self.tracker.process([packet])
        self.boxes.append(np.array([f.box_xyxy for f in packet.faces], float).reshape(-1, 4))

    def close(self) -> None:
        self.detector.close()
        if self.tracker is not None:
            self.tracker.close()


def run_lanes(
    frames: list[np.ndarray],
    config: Config,
    plans: dict[str, tuple[DetectConfig, bool, DetectConfig]],
) -> dict[str, _Lane]:
    """Each plan (the detector's config, tracked, the config whose cadence picks the frames)
    as a lane over ``frames``; the lanes take turns frame by frame, so their times compare
    on a loaded machine."""
    lanes: dict[str, _Lane] = {}
    try:
        for name, (cfg, tracked, cadence) in plans.items():
            tracker = FaceTracker(config.track) if tracked else None
            lanes[name] = _Lane(FaceDetector(cfg), tracker, DetectionCadence(cadence))
        for index, image in enumerate(frames):
            for lane in lanes.values():
                lane.step(index, image)
    finally:
        for lane in lanes.values():
            lane.close()
    return lanes


def _score(truth: list[np.ndarray], got: list[np.ndarray], detected: list[bool]) -> dict[str, Any]:
    """Recall against ``truth`` (overall and for faces <= 34 px, with where the small ones
    were missed: on a detection frame or a frame between), and precision: the share of
    output boxes that match a ``truth`` box, on every frame and on the frames between
    detections (the boxes the tracker carried)."""
    found = total = 0
    small = dict.fromkeys(("found", "total", "missed_detection_frames", "missed_between"), 0)
    out = dict.fromkeys(("boxes", "unmatched", "carried", "carried_unmatched"), 0)
    for ref, mine, on_detection in zip(truth, got, detected, strict=True):
        iou = iou_matrix(ref, mine) if len(ref) and len(mine) else np.zeros((len(ref), len(mine)))
        hit = iou.max(axis=1) >= RECALL_IOU if len(mine) else np.zeros(len(ref), bool)
        matched = iou.max(axis=0) >= RECALL_IOU if len(ref) else np.zeros(len(mine), bool)
        is_small = (ref[:, 3] - ref[:, 1]) <= 34
        found, total = found + int(hit.sum()), total + len(ref)
        small["found"] += int(hit[is_small].sum())
        small["total"] += int(is_small.sum())
        missed = int((is_small & ~hit).sum())
        small["missed_detection_frames" if on_detection else "missed_between"] += missed
        out["boxes"] += len(mine)
        out["unmatched"] += int((~matched).sum())
        if not on_detection:
            out["carried"] += len(mine)
            out["carried_unmatched"] += int((~matched).sum())
    return {
        "recall": found / total if total else None,
        "recall_faces_le_34px": small["found"] / small["total"] if small["total"] else None,
        "faces_le_34px": small,
        "precision": 1 - out["unmatched"] / out["boxes"] if out["boxes"] else None,
        "carried_precision": 1 - out["carried_unmatched"] / out["carried"]
        if out["carried"]
        else None,
        "output_boxes": out,
    }


def _drawn_score(
    drawn: list[np.ndarray], got: list[np.ndarray], detected: list[bool]
) -> dict[str, float | None]:
    """Against the faces a synthetic clip drew (boxes larger than a detector's: a box
    counts when its centre lies on a drawn face): the share of drawn faces output, of
    output boxes on a face, and of boxes carried between detections on a face (a box
    carried after its person left lies on none)."""
    found = total = on_face = boxes = carried_on_face = carried = 0
    for faces, mine, on_detection in zip(drawn, got, detected, strict=True):
        centres = (mine[:, :2] + mine[:, 2:]) / 2
        inside = (
            (centres[:, None, 0] >= faces[None, :, 0])
            & (centres[:, None, 0] <= faces[None, :, 2])
            & (centres[:, None, 1] >= faces[None, :, 1])
            & (centres[:, None, 1] <= faces[None, :, 3])
        )
        found, total = found + int(inside.any(axis=0).sum()), total + len(faces)
        hits = int(inside.any(axis=1).sum())
        on_face, boxes = on_face + hits, boxes + len(mine)
        if not on_detection:
            carried_on_face, carried = carried_on_face + hits, carried + len(mine)
    return {
        "recall": found / total if total else None,
        "precision": on_face / boxes if boxes else None,
        "carried_precision": carried_on_face / carried if carried else None,
    }


def recall(
    clip: Path, config: Config, limit: int, drawn: list[np.ndarray] | None = None
) -> dict[str, Any]:
    """The default detector + gate + tracker, and the same without the gate, against the
    detector run on every frame at full size. The three take turns frame by frame, so
    their ms per frame are comparable on a loaded machine. ``drawn``: where a synthetic
    clip drew its faces, per frame; each lane is scored against them too."""
    frames = measure.decode_frames(clip, limit)
    detect = config.detect
    # name: (the detector's config, tracked, the config whose cadence picks the frames)
    every_frame = replace(detect, every_n_frames=1)
    exhaustive = replace(every_frame, motion_gate=False, precision="fp32")
    plans = {
        # The reference is the shipped fp32 detector on every frame at full size.
        "exhaustive": (exhaustive, False, exhaustive),
        "default": (every_frame, True, detect),
        "no_gate": (replace(every_frame, motion_gate=False), True, detect),
    }
    lanes = run_lanes(frames, config, plans)
    truth = lanes["exhaustive"].boxes
    rows = {
        name: {
            **_score(truth, lane.boxes, lane.detected),
            "detect_ms_per_frame": 1000 * lane.busy_s / len(frames),
            "passes": dict(lane.detector.passes),
            "full_passes_rechecked": lane.detector.rechecked,
        }
        for name, lane in lanes.items()
        if name != "exhaustive"
    }
    if drawn is not None:
        for name, lane in lanes.items():
            rows.setdefault(name, {})["vs_drawn"] = _drawn_score(
                drawn[: len(frames)], lane.boxes, lane.detected
            )
    heights = np.concatenate([t[:, 3] - t[:, 1] for t in truth if len(t)] or [np.zeros(0)])
    return {
        "frames": len(frames),
        "exhaustive_faces": int(sum(len(t) for t in truth)),
        "exhaustive_face_px": [float(heights.min()), float(heights.max())]
        if len(heights)
        else None,
        "exhaustive_detect_ms_per_frame": 1000 * lanes["exhaustive"].busy_s / len(frames),
        **rows,
    }


def backends(clip: Path, config: Config, limit: int = 12, rounds: int = 5) -> dict[str, Any]:
    """ms per frame of the detector alone (full frame, every frame) per backend (and
    OpenVINO's int8 copy): they take turns frame by frame (a shared machine's load hits
    all alike); the median over ``rounds`` passes."""
    frames = measure.decode_frames(clip, limit)
    detectors: dict[str, FaceDetector] = {}
    out: dict[str, Any] = {}
    lanes = {
        "ort": ("ort", "fp32"),
        "openvino": ("openvino", "fp32"),
        "openvino_int8": ("openvino", "int8"),
    }
    for name, (backend, precision) in lanes.items():
        cfg = replace(
            config.detect,
            backend=backend,
            precision=precision,
            motion_gate=False,
            every_n_frames=1,
        )
        try:
            detectors[name] = FaceDetector(cfg)
        except ModelError:  # openvino not installed: a row of "-", not a failure
            out[name] = None
    times: dict[str, list[float]] = {name: [] for name in detectors}
    try:
        for _ in range(rounds):
            busy = dict.fromkeys(detectors, 0.0)
            for i, image in enumerate(frames):
                for name, detector in detectors.items():
                    t0 = time.perf_counter()
                    detector.process([FramePacket(i, i, 1, image, 0.0)])
                    busy[name] += time.perf_counter() - t0
            for name in detectors:
                times[name].append(1000 * busy[name] / len(frames))
    finally:
        for detector in detectors.values():
            detector.close()
    for name, values in times.items():
        out[name] = statistics.median(values)
    if out.get("ort") and out.get("openvino"):
        out["ort_over_openvino"] = out["ort"] / out["openvino"]
    return out


def startup(clip: Path, work: Path) -> dict[str, Any]:
    """Spawn-to-exit of ``python -m streamproc run`` on a one-frame clip, and its imports."""
    one = work / "one-frame.mp4"
    from benchmarks.clips import trim

    trim(clip, one, 1)
    script = (
        "import json, sys\n"
        "from streamproc.run.cli import main\n"
        f"rc = main(['run', {str(one)!r}, '-o', {str(work / 'one-out.mp4')!r}, '--quiet'])\n"
        "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules,"
        " 'ultralytics': 'ultralytics' in sys.modules}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    elapsed = time.perf_counter() - t0
    result = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}
    return {"startup_s": elapsed, "rc": done.returncode, **result}


def run(
    work: Path, log, clip: Path | None, quick: bool, config: Config | None = None
) -> dict[str, Any]:
    """The whole section. ``clip``: the user's footage, else the sample and the quiet clip
    at 768x432 and 720p, 30 fps: 60 s each, or with ``quick`` 12 s (432p) and 6 s (720p)."""
    from streamproc.run.job import SAMPLE_CLIP

    config = config or config_from_dict({})
    seconds = {"432p": 12, "720p": 6} if quick else {"432p": 60, "720p": 60}
    clips: dict[str, Path] = {}
    quiet_sizes: dict[str, tuple[int, int]] = {}  # the clips whose faces we drew
    if clip is not None:
        clips[clip.stem] = clip
    else:
        for name, secs in seconds.items():
            log(f"realtime: writing the {name} 30 fps clips ({secs} s)")
            clips[f"sample-{name}"] = cctv_clip(
                SAMPLE_CLIP, work / f"sample-{name}.mp4", SIZES[name], 30, 30 * secs
            )
            clips[f"quiet-{name}"] = quiet_clip(
                work / f"quiet-{name}.mp4", SIZES[name], 30, 30 * secs
            )
            quiet_sizes[f"quiet-{name}"] = SIZES[name]
    results: dict[str, Any] = {"clips": {}}
    for name, path in clips.items():
        row: dict[str, Any] = {"clip": measure_probe(path)}
        log(f"realtime {name}: decode+encode ceiling")
        row["ceiling"] = measure.decode_encode_fps(path, config)
        log(f"realtime {name}: default pipeline, file output")
        job = Job([str(path)], config, work / f"rt-{name}.mp4")
        row["e2e"] = measure.run_job(job)
        row["e2e_over_ceiling"] = row["e2e"]["fps"] / row["ceiling"]["fps"]
        log(f"realtime {name}: live (paced at {row['clip']['fps']:g} fps)")
        source = PacedSource(open_source(str(path), config.source))
        live_job = Job([str(path)], config, work / f"rt-live-{name}.mp4", sources=[source])
        live = measure.run_job(live_job)
        offered = live["frames"] + live["dropped"]
        live["dropped_pct"] = 100 * live["dropped"] / max(1, offered)
        row["live"] = live
        log(f"realtime {name}: recall vs exhaustive detection")
        limit = 30 * 12  # the recall window (a shorter clip ends first)
        size = quiet_sizes.get(name)
        drawn = None if size is None else quiet_faces(size, 30, limit)
        row["recall"] = recall(path, config, limit, drawn)
        results["clips"][name] = row
    if clip is None:
        log(f"realtime: recall on walkers {FAST_WALKERS:g}x as fast (quiet-432p)")
        size, frames = SIZES["432p"], 30 * 12
        path = quiet_clip(work / "walkers-fast-432p.mp4", size, 30, frames, speed=FAST_WALKERS)
        drawn = quiet_faces(size, 30, frames, speed=FAST_WALKERS)
        results["fast_walkers"] = recall(path, config, frames, drawn)
    first = next(iter(clips.values()))
    log("realtime: detector backends")
    results["detector_ms_per_frame"] = backends(first, config)
    log("realtime: start-up of a fresh process")
    results["startup"] = startup(first, work)
    return results


def measure_probe(path: Path) -> dict[str, Any]:
    from benchmarks.clips import probe_clip

    return probe_clip(path)


def lines(results: dict[str, Any]) -> list[str]:
    """The section as text (console and markdown)."""
    out = []
    for name, row in results["clips"].items():
        clip, live, rec = row["clip"], row["live"], row["recall"]
        default, no_gate = rec["default"], rec["no_gate"]
        out.append(
            f"{name} ({clip['width_px']}x{clip['height_px']}@{clip['fps']:g}, "
            f"{clip['frames']} frames): e2e {row['e2e']['fps']:.1f} fps / ceiling "
            f"{row['ceiling']['fps']:.1f} fps = {row['e2e_over_ceiling']:.2f}"
        )
        out.append(
            f"  live: {live['dropped_pct']:.1f} % dropped ({live['dropped']} of "
            f"{live['frames'] + live['dropped']}), latency p95 {live['latency_ms_p95']:.0f} ms"
        )
        out.append(
            f"  recall vs exhaustive ({rec['exhaustive_faces']} faces in {rec['frames']} "
            f"frames, {_px(rec['exhaustive_face_px'])}): default {_pct(default['recall'])} "
            f"(faces <= 34 px {_pct(default['recall_faces_le_34px'])}: {_small(default)}); "
            f"motion gate off {_pct(no_gate['recall'])} (faces <= 34 px "
            f"{_pct(no_gate['recall_faces_le_34px'])})"
        )
        out.append(
            f"  precision vs exhaustive: default {_pct(default['precision'])} of "
            f"{default['output_boxes']['boxes']} boxes output, carried between detections "
            f"{_pct(default['carried_precision'])} of {default['output_boxes']['carried']}"
        )
        if "vs_drawn" in default:
            shown = "; ".join(
                f"{lane} {_pct(rec[lane]['vs_drawn']['recall'])} found, "
                f"{_pct(rec[lane]['vs_drawn']['precision'])} of boxes on a face"
                + (
                    ""
                    if lane == "exhaustive"
                    else f" ({_pct(rec[lane]['vs_drawn']['carried_precision'])} of carried)"
                )
                for lane in ("default", "no_gate", "exhaustive")
            )
            out.append(f"  vs the faces drawn: {shown}")
        gain = no_gate["detect_ms_per_frame"] / max(default["detect_ms_per_frame"], 1e-9)
        passes = " ".join(f"{k}:{v}" for k, v in default["passes"].items())
        passes += f", {default.get('full_passes_rechecked', 0)} full rechecked"
        out.append(
            f"  detect ms/frame, interleaved: default {default['detect_ms_per_frame']:.1f} "
            f"(passes {passes}), gate off {no_gate['detect_ms_per_frame']:.1f} "
            f"(gate speed-up {gain:.2f}x), exhaustive "
            f"{rec['exhaustive_detect_ms_per_frame']:.1f}"
        )
    fast = results.get("fast_walkers")
    if fast is not None:
        lane = fast["default"]
        out.append(
            f"walkers {FAST_WALKERS:g}x as fast (quiet-432p, 12 s): recall vs exhaustive "
            f"{_pct(lane['recall'])} ({fast['exhaustive_faces']} faces), faces drawn found "
            f"{_pct(lane['vs_drawn']['recall'])}, detections {sum(lane['passes'].values())} "
            f"of {fast['frames']} frames"
        )
    det = results["detector_ms_per_frame"]
    shown = ", ".join(
        f"{k} {'-' if v is None else f'{v:.1f} ms'}"
        for k, v in det.items()
        if k != "ort_over_openvino"
    )
    ratio = det.get("ort_over_openvino")
    out.append(
        f"detector full frame, interleaved: {shown}"
        + (f" (ort / openvino = {ratio:.2f})" if ratio else "")
    )
    start = results["startup"]
    out.append(
        f"start-up (fresh process, one-frame clip, spawn to exit): {start['startup_s']:.2f} s, "
        f"torch imported: {start.get('torch')}, ultralytics imported: {start.get('ultralytics')}"
    )
    return out


def _small(lane: dict[str, Any]) -> str:
    small = lane["faces_le_34px"]
    return (
        f"{small['found']} of {small['total']}, missed {small['missed_detection_frames']} on "
        f"detection frames, {small['missed_between']} between"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _px(span: list[float] | None) -> str:
    return "-" if not span else f"{span[0]:.0f}-{span[1]:.0f} px"
