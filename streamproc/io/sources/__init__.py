"""Where frames come from: files, images, network streams and capture devices.

Every source yields :class:`~streamproc.core.packet.FramePacket` and says whether it is
``live``: the pipeline blocks on a file source (every frame is processed) and drops the
oldest frame for a live one (fresh output beats complete output).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

from streamproc.core.config import SourceConfig
from streamproc.core.errors import InputError
from streamproc.core.packet import FramePacket
from streamproc.core.urls import is_device, is_url, mask_url

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class SourceInfo:
    """What a sink needs to know to mirror the input (size, timing, audio)."""

    name: str  # safe to print: URLs are masked
    width_px: int
    height_px: int
    fps: Fraction
    time_base: Fraction
    frame_count: int  # 0 when unknown (live)
    has_audio: bool
    path: Path | None  # local file, for hashing and audio passthrough
    events: list[dict] = field(default_factory=list)
    skipped_packets: int = 0


class Source(Protocol):
    live: bool
    info: SourceInfo

    def frames(self, stop: threading.Event) -> Iterator[FramePacket]: ...

    def close(self) -> None: ...


def open_source(spec: str, config: SourceConfig, wait_for_camera: bool = False) -> Source:
    """Pick the source for ``spec`` (path, folder, URL or device) and open it.

    ``wait_for_camera``: a stream or device that does not answer yet is retried in the
    background instead of being an error (see ``LiveSource``)."""
    from streamproc.io.sources.file import FileSource
    from streamproc.io.sources.images import ImageSource
    from streamproc.io.sources.live import LiveSource

    if is_url(spec) and spec.lower().startswith(("http://", "https://")):
        return _open_http(spec, config, wait_for_camera)
    if is_url(spec) or is_device(spec):
        return LiveSource(spec, config, wait_for_camera)
    path = Path(spec)
    if not path.exists():
        raise InputError(f"input not found: {mask_url(spec)}")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path, config)
    return FileSource(path, config)


def _open_http(spec: str, config: SourceConfig, wait_for_camera: bool) -> Source:
    """An HTTP(S) URL is a file (known duration or size: lossless, ends at its end) or a
    stream (MJPEG camera, live TS: fresh, reconnects with backoff)."""
    from streamproc.io.sources.file import FileSource, is_finite
    from streamproc.io.sources.live import LiveSource, open_live

    try:
        container = open_live(spec, config)
    except InputError:
        if not wait_for_camera:
            raise
        return LiveSource(spec, config, wait_for_camera)
    if is_finite(container):
        return FileSource.over_http(container, spec, config)
    return LiveSource(spec, config, wait_for_camera, container=container)
