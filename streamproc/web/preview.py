"""The newest frame of each camera for the monitor, as JPEG on demand."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import cv2
import numpy as np

from streamproc.core.packet import FramePacket

VIEWS = ("enhanced", "original", "side")
FACES_SHOWN = 8  # latest enhanced crops kept per camera for the monitor's face strip


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
        self._faces: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.closed = False

    def publish(self, packet: FramePacket, original: np.ndarray | None) -> None:
        faces = []
        for face in packet.faces:
            if face.enhanced is None or face.track_id < 0:
                continue
            ok, data = cv2.imencode(".jpg", face.enhanced, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if ok:
                faces.append((face.track_id, data.tobytes()))
        with self._lock:
            self._frames = (packet.image, packet.image if original is None else original)
            self._jpeg = {}
            self.seq += 1
            for track_id, jpeg in faces:
                self._faces.pop(track_id, None)
                self._faces[track_id] = {"jpeg": jpeg, "time_s": time.time(), "seq": self.seq}
            while len(self._faces) > FACES_SHOWN:
                self._faces.popitem(last=False)

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
        """Newest first: track id, wall-clock time and frame seq of each kept crop."""
        with self._lock:
            items = list(self._faces.items())
        return [
            {"track_id": t, "time_s": round(f["time_s"], 3), "seq": f["seq"]}
            for t, f in reversed(items)
        ]

    def close(self) -> None:
        self.closed = True

    def face_jpeg(self, track_id: int) -> bytes | None:
        with self._lock:
            face = self._faces.get(track_id)
        return None if face is None else face["jpeg"]
