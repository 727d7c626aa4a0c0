"""Face events: one entry per track of one camera, with its best-quality crop (original and
enhanced) and when it was first and last seen, in video time.

Kept by a camera's preview for the monitor's event list: a track is one event however many
frames (and crop updates) it has, so the list does not fill with duplicates, and the crops
are re-encoded only when a better view of the face comes (a larger, surer detection).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from streamproc.core.packet import Face, FramePacket
from streamproc.vision.enhance.crops import extract

# A new crop replaces the kept one only if it is this much better (no churn frame to frame).
BETTER_BY = 1.1
JPEG_QUALITY = 90


@dataclass
class FaceEvent:
    track_id: int
    first_s: float  # video time (s) of the first and latest frame with the face enhanced
    last_s: float
    frames: int
    quality: float  # face height (px) x detection score of the kept crop
    height_px: int
    enhancer: str
    original_jpeg: bytes
    enhanced_jpeg: bytes
    version: int  # bumps when the kept crop changes: the cache key of its images

    def as_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "first_s": round(self.first_s, 2),
            "last_s": round(self.last_s, 2),
            "frames": self.frames,
            "height_px": self.height_px,
            "enhancer": self.enhancer,
            "version": self.version,
        }


def _jpeg(image) -> bytes | None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return data.tobytes() if ok else None


class FaceEvents:
    """The latest ``max_events`` tracks of one camera (written by its writer thread, read
    by the web server's threads)."""

    def __init__(self, max_events: int = 50) -> None:
        self.max_events = max_events
        self._events: OrderedDict[int, FaceEvent] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, packet: FramePacket, original: np.ndarray | None = None) -> None:
        """``packet``: as written (composited: the enhanced crop is cut from it, so it is
        what the video shows, colour-matched and marked); ``original``: the frame before
        enhancement, if the packet's image is wider (side by side: the right half)."""
        x_offset = 0 if original is None else packet.width_px - original.shape[1]
        for face in packet.faces:
            if face.enhanced is None or face.crop is None or face.track_id < 0:
                continue
            self._add(face, packet.time_s, packet.image, x_offset)

    def _add(self, face: Face, time_s: float, image: np.ndarray, x_offset: int) -> None:
        quality = face.height_px * face.score
        with self._lock:
            event = self._events.get(face.track_id)
        if event is not None and quality <= event.quality * BETTER_BY:
            with self._lock:
                event.last_s, event.frames = max(event.last_s, time_s), event.frames + 1
            return
        x1, y1, x2, y2 = face.crop_box
        shown = extract(image, (x1 + x_offset, y1, x2 + x_offset, y2))
        original, enhanced = _jpeg(face.crop), _jpeg(shown)
        if original is None or enhanced is None:
            return
        with self._lock:
            if event is None:
                event = FaceEvent(face.track_id, time_s, time_s, 0, 0.0, 0, "", b"", b"", 0)
                self._events[face.track_id] = event
            event.last_s, event.frames = max(event.last_s, time_s), event.frames + 1
            event.quality, event.height_px = quality, round(face.height_px)
            event.enhancer, event.version = face.enhancer, event.version + 1
            event.original_jpeg, event.enhanced_jpeg = original, enhanced
            while len(self._events) > self.max_events:  # forget the longest unseen
                del self._events[min(self._events.values(), key=lambda e: e.last_s).track_id]

    def list(self) -> list[dict[str, Any]]:
        """Newest track first (a stable order: the page rebuilds only on news)."""
        with self._lock:
            return [e.as_dict() for e in reversed(self._events.values())]

    def jpeg(self, track_id: int, kind: str = "enhanced") -> bytes | None:
        with self._lock:
            event = self._events.get(track_id)
            if event is None:
                return None
            return event.original_jpeg if kind == "original" else event.enhanced_jpeg
