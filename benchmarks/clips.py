"""Benchmark clips: CCTV-like synthetic scenes with real faces, and trimmed copies of a clip.

Faces are crops of ultralytics' packaged ``assets/zidane.jpg`` (two real faces), mirrored
and scaled to 48-110 px, pasted with a feathered mask and drifting across a static, dim,
noisy, slightly blurred scene: the detector finds them like faces in real footage.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from streamproc.core.packages import package_file

# Face regions of zidane.jpg (x1, y1, x2, y2), as in tests/synth.py.
ZIDANE_FACES = ((905, 80, 1070, 300), (530, 235, 675, 440))
RESOLUTIONS = {"720p": (1280, 720), "1080p": (1920, 1080)}


@dataclass(frozen=True)
class ClipSpec:
    """A synthetic clip. ``faces`` cycles per frame, e.g. (1, 2, 3) = 1, 2, 3, 1, 2, ..."""

    width_px: int
    height_px: int
    n_frames: int
    fps: int = 25
    faces: tuple[int, ...] = (1, 2, 3)
    seed: int = 0

    @property
    def mean_faces(self) -> float:
        return sum(self.faces[i % len(self.faces)] for i in range(self.n_frames)) / self.n_frames


def zidane_path() -> Path:
    """ultralytics' packaged photo, located without importing ultralytics (it is slow)."""
    return package_file("ultralytics", "assets/zidane.jpg", "pip install ultralytics")


def _face_sprites(rng: np.random.Generator, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` (face BGR, feathered alpha) pairs of assorted sizes and orientations."""
    image = cv2.imread(str(zidane_path()))
    sprites = []
    for i in range(count):
        x1, y1, x2, y2 = ZIDANE_FACES[i % len(ZIDANE_FACES)]
        crop = image[y1:y2, x1:x2]
        if i % 4 >= 2:
            crop = crop[:, ::-1]
        height = int(rng.integers(48, 111))
        width = max(2, round(crop.shape[1] * height / crop.shape[0]))
        face = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
        alpha = np.zeros((height, width), np.float32)
        cv2.ellipse(alpha, (width // 2, height // 2), (width // 2, height // 2), 0, 0, 360, 1, -1)
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, height / 12))[:, :, None]
        sprites.append((face, alpha))
    return sprites


def _scene(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A static, dim 'camera view': floor gradient, walls, boxes."""
    ramp = np.linspace(40, 110, height, dtype=np.float32)[:, None, None]
    scene = np.broadcast_to(ramp, (height, width, 3)).copy()
    for _ in range(18):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w = int(rng.integers(width // 20, width // 4))
        h = int(rng.integers(height // 20, height // 3))
        scene[y : y + h, x : x + w] = rng.integers(30, 160, 3)
    return cv2.GaussianBlur(scene, (0, 0), 1.5)


def _frame(spec: ClipSpec, index: int, scene: np.ndarray, sprites, rng) -> np.ndarray:
    frame = scene.copy()
    n_faces = spec.faces[index % len(spec.faces)]
    for i in range(n_faces):
        face, alpha = sprites[i]
        h, w = face.shape[:2]
        lane_w = spec.width_px // max(1, n_faces)
        x = (i * lane_w + 30 + 3 * index) % max(1, spec.width_px - w - 1)
        y = int(spec.height_px * (0.25 + 0.4 * ((i * 37) % 10) / 10))
        y = min(y, spec.height_px - h - 1)
        region = frame[y : y + h, x : x + w]
        region += (face.astype(np.float32) - region) * alpha
    frame = cv2.GaussianBlur(frame, (0, 0), 0.8) * 0.8  # soft optics, low light
    frame += rng.normal(0, 3.0, frame.shape[:2])[:, :, None].astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def write_synthetic(path: Path, spec: ClipSpec) -> Path:
    """Write ``spec`` as H.264 (CRF 23, like a DVR's export) and return ``path``."""
    rng = np.random.default_rng(spec.seed)
    sprites = _face_sprites(rng, max(spec.faces))
    scene = _scene(spec.width_px, spec.height_px, rng)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=spec.fps)
        stream.width, stream.height, stream.pix_fmt = spec.width_px, spec.height_px, "yuv420p"
        stream.options = {"crf": "23", "preset": "ultrafast"}
        for index in range(spec.n_frames):
            image = _frame(spec, index, scene, sprites, rng)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, spec.fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def trim(src: Path, dst: Path, n_frames: int) -> Path:
    """The first ``n_frames`` of ``src`` re-encoded near-losslessly (CRF 12), same rate."""
    with av.open(str(src)) as reader, av.open(str(dst), mode="w") as writer:
        in_stream = reader.streams.video[0]
        rate = in_stream.average_rate or Fraction(25)
        out = writer.add_stream("libx264", rate=rate)
        ctx = in_stream.codec_context
        out.width, out.height, out.pix_fmt = ctx.width, ctx.height, "yuv420p"
        out.options = {"crf": "12", "preset": "ultrafast"}
        for index, frame in enumerate(reader.decode(in_stream)):
            if index >= n_frames:
                break
            image = av.VideoFrame.from_ndarray(frame.to_ndarray(format="bgr24"), format="bgr24")
            image.pts, image.time_base = index, Fraction(1) / rate
            for packet in out.encode(image):
                writer.mux(packet)
        for packet in out.encode(None):
            writer.mux(packet)
    return dst


def probe_clip(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = stream.frames or sum(1 for _ in container.demux(stream) if _.size)
        return {
            "width_px": stream.codec_context.width,
            "height_px": stream.codec_context.height,
            "fps": float(stream.average_rate or 25),
            "frames": int(frames),
        }
