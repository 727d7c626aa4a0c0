"""Single images and folders of images, processed in name order."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from streamproc.core.config import SourceConfig
from streamproc.core.errors import InputError
from streamproc.core.packet import FramePacket
from streamproc.io.sources import IMAGE_SUFFIXES, SourceInfo

log = logging.getLogger(__name__)


def _read_image(path: Path) -> np.ndarray | None:
    """BGR, at the file's own bit depth (8 or 16 bits per channel)."""
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    return image if image is not None and image.size else None


def to_8bit(image: np.ndarray) -> np.ndarray:
    """The pipeline works in 8 bits: scale 16-bit (or float) pixels down, rounded."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


class ImageSource:
    live = False

    def __init__(self, path: Path, config: SourceConfig) -> None:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        else:
            files = [path]
        self.files = files
        first = _read_image(files[0])  # only its size is used
        if first is None and len(files) == 1:
            raise InputError(f"cannot read image {path.name}: empty or not an image")
        height, width = first.shape[:2] if first is not None else (0, 0)
        time_base = Fraction(1) / Fraction(config.image_fps).limit_denominator(1000)
        self.info = SourceInfo(
            name=path.name,
            width_px=width,
            height_px=height,
            fps=Fraction(config.image_fps).limit_denominator(1000),
            time_base=time_base,
            frame_count=len(files),
            has_audio=False,
            path=path,
        )
        self.names: dict[int, str] = {}

    def frames(self, stop: threading.Event) -> Iterator[FramePacket]:
        index = 0
        for path in self.files:
            if stop.is_set():
                return
            image = _read_image(path)
            if image is None:
                self.info.skipped_packets += 1
                self.info.events.append({"event": "unreadable_image", "file": path.name})
                log.warning("skipping unreadable image %s", path.name)
                continue
            if image.dtype != np.uint8:
                self._note_depth(path, image)
            self.names[index] = path.name
            yield FramePacket(
                index=index,
                pts=index,
                time_base=self.info.time_base,
                image=to_8bit(image),
                capture_s=time.monotonic(),
            )
            index += 1
        if index == 0:
            raise InputError(
                f"none of the {len(self.files)} images in {self.info.name} is readable"
            )

    def _note_depth(self, path: Path, image: np.ndarray) -> None:
        """Said in the manifest (and once in the log): the output has 8 bits per channel."""
        bits = image.dtype.itemsize * 8
        self.info.events.append(
            {"event": "converted_to_8bit", "file": path.name, "bits_per_channel": bits}
        )
        if sum(e.get("event") == "converted_to_8bit" for e in self.info.events) == 1:
            log.warning("%s has %d bits per channel; processed and written 8-bit", path.name, bits)

    def close(self) -> None:
        """Nothing held open between frames."""
