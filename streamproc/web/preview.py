"""The newest frame of each camera for the monitor, as JPEG on demand."""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from streamproc.core.packet import FramePacket
from streamproc.web.events import FaceEvents

VIEWS = ("enhanced", "original", "side")
FACES_SHOWN = 50  # tracks kept per camera for the monitor's event list


class Preview:
    """The newest frame of one camera, as JPEG on demand (encoded once per view and frame).

    The writer thread publishes arrays; web clients ask for JPEG bytes. Nothing here ever
    blocks the pipeline: a slow viewer just skips frames.
    """

    def __init__(self, quality: int) -> None:
        self._lock = threading.Lock()
        self._quality = quality
        self.seq = 0
        self._frames: tuple[np.ndarray, np.ndarray] | None = None
        self._jpeg: dict[str, bytes] = {}
        self.events = FaceEvents(FACES_SHOWN)  # one event per track
        self.closed = False

    def publish(self, packet: FramePacket, original: np.ndarray | None) -> None:
        self.events.add(packet, original)
        with self._lock:
            self._frames = (packet.image, packet.image if original is None else original)
            self._jpeg = {}
            self.seq += 1

    def jpeg(self, view: str) -> tuple[int, bytes | None]:
        """(seq, JPEG of the newest frame in ``view``), or (0, None) before the first frame."""
        with self._lock:
            seq, frames, cached = self.seq, self._frames, self._jpeg.get(view)
        if frames is None:
            return 0, None
        if cached is not None:
            return seq, cached
        enhanced, original = frames
        if view == "original":
            image = original
        elif view == "side" and original.shape == enhanced.shape:
            image = np.hstack([original, enhanced])
        else:
            image = enhanced
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        jpeg = data.tobytes() if ok else None
        with self._lock:
            if self.seq == seq and jpeg is not None:
                self._jpeg[view] = jpeg
        return seq, jpeg

    def faces(self) -> list[dict[str, Any]]:
        """One event per track, newest track first."""
        return self.events.list()

    def close(self) -> None:
        self.closed = True

    def face_jpeg(self, track_id: int, kind: str = "enhanced") -> bytes | None:
        return self.events.jpeg(track_id, kind)
