"""Image output for image input: one enhanced image per input image, same file name."""

from __future__ import annotations

from pathlib import Path

import cv2

from streamproc.errors import OutputError
from streamproc.packet import FramePacket


class ImageSink:
    name = "images"

    def __init__(self, out_dir: Path, names: dict[int, str]) -> None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create output folder {out_dir}: {err.strerror}") from None
        self.out_dir = out_dir
        self._names = names
        self.written: list[Path] = []

    def write(self, packet: FramePacket) -> None:
        name = self._names.get(packet.index, f"frame_{packet.index:06d}.png")
        path = self.out_dir / name
        ext = path.suffix if path.suffix else ".png"
        ok, data = cv2.imencode(ext, packet.image)
        if not ok:
            raise OutputError(f"cannot encode {path.name}")
        try:
            path.write_bytes(data.tobytes())
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err.strerror}") from None
        self.written.append(path)

    def close(self) -> None:
        """Each image is complete when written."""
