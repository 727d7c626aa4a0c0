"""Test data made in the tests: frames with real faces pasted in, clips written with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import ultralytics

ZIDANE = Path(ultralytics.__file__).parent / "assets" / "zidane.jpg"
# Face regions of zidane.jpg (x1, y1, x2, y2), found with the bundled detector.
ZIDANE_FACES = ((905, 80, 1070, 300), (530, 235, 675, 440))


def face_patches(height_px: int) -> list[np.ndarray]:
    """Real face crops from a packaged photo, scaled to ``height_px`` tall."""
    image = cv2.imread(str(ZIDANE))
    patches = []
    for x1, y1, x2, y2 in ZIDANE_FACES:
        crop = image[y1:y2, x1:x2]
        scale = height_px / crop.shape[0]
        patches.append(
            cv2.resize(
                crop,
                (max(2, round(crop.shape[1] * scale)), height_px),
                interpolation=cv2.INTER_AREA,
            )
        )
    return patches


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A textured, static 'scene' so that untouched background can be compared."""
    rng = np.random.default_rng(seed)
    base = np.zeros((height, width, 3), np.uint8)
    base[:] = (90, 100, 110)
    for _ in range(12):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(c) for c in rng.integers(40, 200, 3))
        cv2.rectangle(
            base,
            (x, y),
            (x + int(rng.integers(20, width // 3)), y + int(rng.integers(10, height // 3))),
            colour,
            -1,
        )
    return cv2.GaussianBlur(base, (5, 5), 0)


def scene_frame(
    index: int, width: int, height: int, n_faces: int, face_px: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Frame ``index``: faces drift slowly to the right. Returns the frame and face boxes."""
    frame = background(width, height)
    boxes = []
    patches = face_patches(face_px)
    for i in range(n_faces):
        patch = patches[i % len(patches)]
        x = 20 + i * (width // max(1, n_faces)) + index * 2
        y = height // 3 + (i % 2) * 20
        h, w = patch.shape[:2]
        x = min(x, width - w - 1)
        frame[y : y + h, x : x + w] = patch
        boxes.append((x, y, x + w, y + h))
    return frame, boxes


def write_clip(
    path: Path,
    n_frames: int = 24,
    width: int = 320,
    height: int = 240,
    fps: int = 12,
    n_faces: int = 1,
    face_px: int = 90,
    audio: bool = False,
    crf: int = 18,
) -> list[list[tuple[int, int, int, int]]]:
    """Write an H.264 MP4 (optionally with AAC audio); return the face boxes per frame."""
    all_boxes = []
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "ultrafast"}
        astream = None
        if audio:
            astream = container.add_stream("aac", rate=16000)
            astream.layout = "mono"
        for i in range(n_frames):
            image, boxes = scene_frame(i, width, height, n_faces, face_px)
            all_boxes.append(boxes)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if astream is not None:
            samples = int(16000 * n_frames / fps)
            t = np.arange(samples) / 16000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            for start in range(0, samples, 1024):
                chunk = tone[:, start : start + 1024]
                aframe = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(chunk), format="fltp", layout="mono"
                )
                aframe.sample_rate = 16000
                aframe.pts = start
                for packet in astream.encode(aframe):
                    container.mux(packet)
            for packet in astream.encode(None):
                container.mux(packet)
    return all_boxes


def read_frames(path: Path) -> tuple[list[np.ndarray], list[int], dict]:
    """Decode a file: BGR frames, pts list, and stream facts."""
    frames, pts = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = {
            "audio": len(container.streams.audio),
            "time_base": stream.time_base,
            "rate": stream.average_rate,
        }
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="bgr24"))
            pts.append(frame.pts)
    return frames, pts, info


def write_faces(folder: Path, n: int, size_px: int = 48, seed: int = 0) -> list[Path]:
    """``n`` drawn face-like PNGs (skin ellipse, two eyes) for the training data tests."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        img = np.full((size_px, size_px, 3), rng.integers(40, 200, 3), np.uint8)
        c = size_px // 2
        cv2.ellipse(img, (c, c), (c // 2, 2 * c // 3), 0, 0, 360, (150, 170, 210), -1)
        cv2.circle(img, (c - c // 4, c - c // 5), 2, (20, 20, 20), -1)
        cv2.circle(img, (c + c // 4, c - c // 5), 2, (20, 20, 20), -1)
        paths.append(folder / f"face_{i:03d}.png")
        cv2.imwrite(str(paths[-1]), img)
    return paths
