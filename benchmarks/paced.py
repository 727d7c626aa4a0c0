"""A live camera simulated from a file: frames arrive at the clip's own frame rate.

The pipeline treats it as live (oldest frame dropped when behind), so the latency the
pipeline records (``capture_s`` -> written) is what a viewer of a real camera would see.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from streamproc.core.packet import FramePacket
from streamproc.io.sources import Source


class PacedSource:
    """Wraps a file source; yields each frame no earlier than its real-time slot."""

    live = True

    def __init__(self, inner: Source) -> None:
        self._inner = inner
        self.info = inner.info
        self.fps = float(inner.info.fps) or 25.0

    def frames(self, stop: threading.Event) -> Iterator[FramePacket]:
        start_s = time.monotonic()
        for index, packet in enumerate(self._inner.frames(stop)):
            wait_s = start_s + index / self.fps - time.monotonic()
            if wait_s > 0 and stop.wait(wait_s):
                return
            packet.capture_s = time.monotonic()  # the moment the "camera" delivered it
            yield packet

    def close(self) -> None:
        self._inner.close()
