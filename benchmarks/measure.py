"""One function per figure: each builds the real streamproc stage and times it.

Timings repeat a call until both ``min_iters`` calls and ``min_s`` seconds have passed
(after ``warmup`` untimed calls), and report the median call, so one descheduled call on a
busy machine does not move the figure.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamproc.core.config import CompositeConfig, Config, DetectConfig, EnhanceConfig
from streamproc.core.packet import Face, FramePacket
from streamproc.core.pipeline import Camera, Pipeline
from streamproc.io.sinks.file import FileSink
from streamproc.io.sources.file import FileSource
from streamproc.run.job import Job
from streamproc.vision.composite import Compositor
from streamproc.vision.enhance.classical import ClassicalEnhancer
from streamproc.vision.enhance.crops import extract, from_model_output, square_box, to_model_input
from streamproc.vision.enhance.onnx import GeneratorRunner


@dataclass(frozen=True)
class Timing:
    """How long to time each micro-benchmark."""

    min_s: float = 2.0
    min_iters: int = 5
    warmup: int = 2


def repeat(fn: Callable[[], Any], timing: Timing) -> list[float]:
    """Seconds per call of ``fn``."""
    for _ in range(timing.warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < timing.min_iters or time.perf_counter() - start < timing.min_s:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def peak_rss_mb() -> float:
    """High-water mark of this process's resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- decode / encode ----------------------------------------------------------------------


def decode_frames(clip: Path, limit: int) -> list[np.ndarray]:
    source = FileSource(clip, Config().source)
    try:
        frames = []
        for packet in source.frames(threading.Event()):
            frames.append(packet.image)
            if len(frames) >= limit:
                break
        return frames
    finally:
        source.close()


def decode_fps(clip: Path) -> dict[str, float]:
    """The pipeline's reader alone: PyAV decode + ``to_ndarray('bgr24')`` per frame."""
    source = FileSource(clip, Config().source)
    try:
        t0 = time.perf_counter()
        frames = sum(1 for _ in source.frames(threading.Event()))
        elapsed = time.perf_counter() - t0
    finally:
        source.close()
    return {"frames": frames, "s": elapsed, "fps": frames / elapsed}


class PassThrough:
    """A stage that does nothing: what is left is the engine's own cost."""

    name = "pass"

    def process(self, packets: list[FramePacket]) -> list[FramePacket]:
        return packets

    def close(self) -> None:
        return None


def decode_encode_fps(clip: Path, config: Config) -> dict[str, float]:
    """The ceiling: the pipeline's reader and writer threads with no stage between them.

    FileSource -> FileSink (libx264 with ``output`` preset/crf/GOP, fragmented MP4, audio
    copied), through the engine's threads and queues with stages that pass frames on, so it
    is exactly the I/O that every end-to-end run also pays. The encoder keeps its own
    threading (``output.encoder_threads`` as configured, 0 = x264 decides: alone, that is
    the fastest), where a pipeline on two CPUs gives small frames one encoder thread
    (:func:`streamproc.io.sinks.file.pipeline_encoder_threads`).
    """
    with tempfile.TemporaryDirectory() as tmp:
        source = FileSource(clip, config.source)
        sink = FileSink(Path(tmp) / "ceiling.mp4", source.info, config.output, live=False)
        camera = Camera("0", source, [sink], config)
        pipeline = Pipeline([camera], PassThrough(), [PassThrough()], config)
        t0 = time.perf_counter()
        pipeline.start()
        pipeline.join()
        elapsed = time.perf_counter() - t0
        pipeline.finish()
    frames = pipeline.stats.frames_out
    return {"frames": frames, "s": elapsed, "fps": frames / elapsed}


# --- detection ----------------------------------------------------------------------------


def detection(frames: list[np.ndarray], imgsz: int, device: str, timing: Timing) -> dict:
    """ms per frame of :class:`FaceDetector` on every frame (the pipeline runs it every N)."""
    from streamproc.vision.detect import FaceDetector

    detector = FaceDetector(DetectConfig(imgsz=imgsz, device=device, every_n_frames=1))
    faces: list[int] = []

    def run_all() -> None:
        faces.clear()
        for index, image in enumerate(frames):
            packet = FramePacket(index, index, 1, image, 0.0)
            detector.process([packet])
            faces.append(len(packet.faces))

    try:
        times = repeat(run_all, Timing(timing.min_s, 1, 1))
    finally:
        detector.close()
    ms = 1000 * statistics.median(times) / len(frames)
    return {"imgsz": imgsz, "ms_per_frame": ms, "fps": 1000 / ms, "faces_per_frame": np.mean(faces)}


def face_crops(frames: list[np.ndarray], device: str, limit: int = 64) -> list[tuple]:
    """(frame, Face with crop) pairs the detector finds, as the enhance stage would cut them."""
    from streamproc.vision.detect import FaceDetector

    detector = FaceDetector(DetectConfig(device=device, every_n_frames=1))
    pairs = []
    try:
        for index, image in enumerate(frames):
            packet = FramePacket(index, index, 1, image, 0.0)
            for face in detector.process([packet])[0].faces:
                face.crop_box = square_box(face.box_xyxy, EnhanceConfig().crop_margin)
                face.crop = extract(image, face.crop_box)
                pairs.append((image, face))
            if len(pairs) >= limit:
                break
    finally:
        detector.close()
    return pairs


def fallback_crops(sprites: list[np.ndarray]) -> list[tuple]:
    """When the clip has no faces: the sprites pasted into a grey frame."""
    image = np.full((720, 1280, 3), 90, np.uint8)
    pairs = []
    for i, sprite in enumerate(sprites):
        h, w = sprite.shape[:2]
        x, y = 40 + 150 * i, 200
        image[y : y + h, x : x + w] = sprite
        face = Face(box_xyxy=(x, y, x + w, y + h), score=1.0)
        face.crop_box = square_box(face.box_xyxy, EnhanceConfig().crop_margin)
        face.crop = extract(image, face.crop_box)
        pairs.append((image, face))
    return pairs


# --- per-face stages ----------------------------------------------------------------------


def per_face(pairs: list[tuple], size_px: int, timing: Timing) -> dict[str, float]:
    """Classical enhancer, composite (paste-back) and generator pre+post, ms per face."""
    enhancer = ClassicalEnhancer(EnhanceConfig())
    compositor = Compositor(CompositeConfig())
    crops = [face.crop for _, face in pairs]
    enhanced = [enhancer(c) for c in crops]
    classical = repeat(lambda: [enhancer(c) for c in crops], timing)
    images = [image.copy() for image, _ in pairs]
    for (_, face), out in zip(pairs, enhanced, strict=True):
        face.enhanced = out

    def paste_all() -> None:
        for image, (_, face) in zip(images, pairs, strict=True):
            compositor.paste(image, face)

    composite = repeat(paste_all, timing)
    sides = [c.shape[0] for c in crops]
    pre_post = repeat(
        lambda: from_model_output(to_model_input(crops, size_px, np.float32), sides), timing
    )
    n = len(crops)
    return {
        "faces": n,
        "crop_px_median": float(np.median(sides)),
        "classical_ms_per_face": 1000 * statistics.median(classical) / n,
        "composite_ms_per_face": 1000 * statistics.median(composite) / n,
        "generator_pre_post_ms_per_face": 1000 * statistics.median(pre_post) / n,
    }


# --- generator ----------------------------------------------------------------------------


def ort_generator(model: Path, providers: tuple[str, ...], batch: int, timing: Timing) -> dict:
    """faces/s of :class:`GeneratorRunner` on one (batch, 3, S, S) tensor."""
    runner = GeneratorRunner(model, EnhanceConfig(providers=providers, max_batch=batch))
    size = runner.input_size_px
    rng = np.random.default_rng(0)
    data = rng.uniform(-1, 1, (batch, 3, size, size)).astype(runner.input_dtype)
    times = repeat(lambda: runner(data), timing)
    ms = 1000 * statistics.median(times)
    return {
        "batch": batch,
        "ms_per_batch": ms,
        "faces_per_s": 1000 * batch / ms,
        "providers": runner.providers,
    }


def torch_generator(model, size_px: int, device: str, timing: Timing) -> dict:
    """faces/s of the same network in torch eager mode, one face per call."""
    import torch

    net = model.to(device).eval()
    data = torch.rand(1, 3, size_px, size_px, device=device) * 2 - 1

    def run() -> None:
        with torch.inference_mode():
            net(data)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    times = repeat(run, timing)
    ms = 1000 * statistics.median(times)
    return {"batch": 1, "device": device, "ms_per_batch": ms, "faces_per_s": 1000 / ms}


# --- end to end ---------------------------------------------------------------------------


def run_job(job: Job) -> dict[str, Any]:
    """Run a built job to the end; fps counts from start() to the last frame written."""
    t0 = time.perf_counter()
    job.start()
    job.pipeline.join()
    elapsed = time.perf_counter() - t0
    (summary,) = job.finish("finished")
    frames = summary["frames_out"]
    return {
        "frames": frames,
        "s": elapsed,
        "fps": frames / elapsed,
        "faces_per_frame": summary["faces"] / max(1, frames),
        "faces_enhanced": summary["faces_enhanced"],
        "dropped": summary["dropped"],
        "latency_ms_p50": summary["latency_ms_p50"],
        "latency_ms_p95": summary["latency_ms_p95"],
        "stage_ms_per_frame": {k: v["ms_per_frame"] for k, v in summary["stages"].items()},
        "max_queue_depths": summary["max_frames_waiting"],
        "peak_rss_mb": peak_rss_mb(),
    }


def face_sprites() -> list[np.ndarray]:
    """The two real faces of zidane.jpg at 64 and 96 px."""
    from benchmarks.clips import ZIDANE_FACES, zidane_path

    image = cv2.imread(str(zidane_path()))
    sprites = []
    for height in (64, 96):
        for x1, y1, x2, y2 in ZIDANE_FACES:
            crop = image[y1:y2, x1:x2]
            width = round(crop.shape[1] * height / crop.shape[0])
            sprites.append(cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA))
    return sprites
