"""Where processed frames go: video file, images, live preview stream, nowhere."""

from __future__ import annotations

from typing import Protocol

from streamproc.core.packet import FramePacket


class Sink(Protocol):
    def write(self, packet: FramePacket) -> None: ...

    def close(self) -> None: ...
