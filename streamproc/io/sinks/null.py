"""Discards frames: for benchmarking the pipeline without encode cost."""

from __future__ import annotations

from streamproc.core.packet import FramePacket


class NullSink:
    name = "null"

    def __init__(self) -> None:
        self.frames_written = 0

    def write(self, packet: FramePacket) -> None:
        self.frames_written += 1

    def close(self) -> None:
        """Nothing to flush."""
