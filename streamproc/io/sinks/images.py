"""Image output for image input: one enhanced image per input image, same file name, in
a folder; or, for a single image, the one file named (``-o out.tiff``)."""

from __future__ import annotations

from pathlib import Path

import cv2

from streamproc.core.errors import OutputError
from streamproc.core.packet import FramePacket


class ImageSink:
    name = "images"

    def __init__(self, out_dir: Path, names: dict[int, str], single_file: bool = False) -> None:
        """``single_file``: ``out_dir`` is the image file to write (one input image)."""
        folder = out_dir.parent if single_file else out_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create output folder {folder}: {err.strerror}") from None
        self.out_dir = out_dir
        self._names = names
        self._single_file = single_file
        self.written: list[Path] = []

    def write(self, packet: FramePacket) -> None:
        name = self._names.get(packet.index, f"frame_{packet.index:06d}.png")
        path = self.out_dir if self._single_file else self.out_dir / name
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
