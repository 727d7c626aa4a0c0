"""Video files through PyAV. Lossless: every decodable frame comes out, with its pts.

A file served over HTTP(S) is a file too (``FileSource.over_http``): read to its end,
every frame, no reconnect. A mid-file resolution change (concatenated recordings) is
scaled to the first frame's size, so one output stream has one size and face boxes stay
in one coordinate system; the change is recorded as an event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import cv2
import numpy as np

from streamproc.core.config import SourceConfig
from streamproc.core.errors import InputError
from streamproc.core.packet import FramePacket
from streamproc.core.urls import mask_url
from streamproc.io.convert import frame_to_bgr
from streamproc.io.sources import SourceInfo

log = logging.getLogger(__name__)


def _open_container(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as err:
        raise InputError(f"cannot read {path.name}: not a video file ({err.strerror})") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"cannot read {path.name}: {err}") from None


def probe(path: Path) -> SourceInfo:
    container = _open_container(path)
    try:
        return _info_from(container, path.name, path)
    finally:
        container.close()


def is_finite(container: av.container.InputContainer) -> bool:
    """A network input with a known duration or size is a file someone serves, not a
    stream: it has an end, and reaching it is not a dropped connection."""
    return bool(container.duration and container.duration > 0) or (container.size or 0) > 0


def _info_from(container: av.container.InputContainer, name: str, path: Path | None) -> SourceInfo:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no"]
        raise InputError(f"{name} has no video stream (found {', '.join(kinds)} streams)")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if not ctx.width or not ctx.height:
        raise InputError(f"{name}: video stream has no frame size (corrupt header)")
    fps = stream.average_rate or stream.guessed_rate or Fraction(25)
    return SourceInfo(
        name=name,
        width_px=ctx.width,
        height_px=ctx.height,
        fps=Fraction(fps),
        time_base=stream.time_base or Fraction(1, 90000),
        frame_count=int(stream.frames or 0),
        has_audio=bool(container.streams.audio),
        path=path,
    )


class FileSource:
    """Decodes a file packet by packet, so one damaged packet skips, not the whole file."""

    live = False

    def __init__(
        self,
        path: Path | None,
        config: SourceConfig,
        container: av.container.InputContainer | None = None,
        name: str | None = None,
    ) -> None:
        """``path``: a local file; or None with an already open ``container`` (``name``
        is then what may be printed: a masked URL)."""
        self._config = config
        self._container = container if container is not None else _open_container(path)
        try:
            self.info = _info_from(self._container, name or path.name, path)
        except InputError:
            self._container.close()
            raise
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"

    @classmethod
    def over_http(cls, container: av.container.InputContainer, url: str, config: SourceConfig):
        """A file served over HTTP(S), already opened: no local path (nothing to hash,
        no audio to copy), read to its end like any file."""
        return cls(None, config, container=container, name=mask_url(url))

    def frames(self, stop: threading.Event) -> Iterator[FramePacket]:
        index = 0
        last_pts: int | None = None
        step = _pts_step(self.info)
        same_size = FirstSize(self.info)
        try:
            for packet in self._container.demux(self._stream):
                if stop.is_set():
                    return
                for frame in self._decode(packet):
                    pts = frame.pts if frame.pts is not None else _next_pts(last_pts, step)
                    if last_pts is not None and pts <= last_pts:
                        # Broken or duplicate timestamps: keep output pts strictly increasing.
                        pts = last_pts + 1
                    last_pts = pts
                    if frame.interlaced_frame:
                        note_interlaced(self.info, index)
                    yield FramePacket(
                        index=index,
                        pts=pts,
                        time_base=self.info.time_base,
                        image=same_size(upright_bgr(frame), index),
                        capture_s=time.monotonic(),
                    )
                    index += 1
        except av.error.FFmpegError as err:
            # Damage past the last good frame: keep what was decoded, say how much was lost.
            self.info.events.append({"event": "read_error", "frame": index, "error": str(err)})
            log.warning("%s: stopped reading at frame %d: %s", self.info.name, index, err)
        if index == 0:
            raise InputError(f"{self.info.name}: no decodable video frames")

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        try:
            return packet.decode()
        except av.error.InvalidDataError:
            self.info.skipped_packets += 1
            return []

    def close(self) -> None:
        self._container.close()


class FirstSize:
    """Scales frames to the size of the first one after a mid-stream resolution change.

    One output stream has one size, and the tracker's boxes and the crops must stay in one
    coordinate system; cropping or padding would lose or invent picture. Each change is an
    event in the manifest (frame, from, to) and one warning.
    """

    def __init__(self, info: SourceInfo) -> None:
        self._info = info
        self._first: tuple[int, int] | None = None  # (height, width) of the first frame
        self._last: tuple[int, int] | None = None

    def __call__(self, image: np.ndarray, index: int) -> np.ndarray:
        size = (image.shape[0], image.shape[1])
        if self._first is None:
            self._first = self._last = size
        if size != self._last:
            self._last = size
            self._note(size, index)
        if size == self._first:
            return image
        height, width = self._first
        shrink = size[0] * size[1] > height * width
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        return cv2.resize(image, (width, height), interpolation=interp)

    def _note(self, size: tuple[int, int], index: int) -> None:
        first = f"{self._first[1]}x{self._first[0]}"
        new = f"{size[1]}x{size[0]}"
        self._info.events.append(
            {"event": "resolution_change", "frame": index, "size": new, "scaled_to": first}
        )
        log.warning(
            "%s: frame size changes to %s at frame %d; scaled to the first size, %s",
            self._info.name,
            new,
            index,
            first,
        )


def note_interlaced(info: SourceInfo, index: int) -> None:
    """Once per input: the output is encoded progressive (fields are not deinterlaced)."""
    if any(e.get("event") == "interlaced" for e in info.events):
        return
    info.events.append(
        {
            "event": "interlaced",
            "frame": index,
            "note": "input is interlaced; output is encoded progressive, fields not separated",
        }
    )
    log.warning("%s is interlaced; the output is encoded progressive", info.name)


def upright_bgr(frame: av.VideoFrame) -> np.ndarray:
    """Decode to BGR and apply the stream's display rotation (phones, some cameras).

    Faces lying on their side are not detected, and players would show the output
    sideways: the output is written upright, without rotation metadata.
    """
    image = frame_to_bgr(frame)
    quarter_turns = round((frame.rotation or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def _pts_step(info: SourceInfo) -> int:
    step = 1 / (info.fps * info.time_base) if info.fps and info.time_base else 1
    return max(1, round(step))


def _next_pts(last: int | None, step: int) -> int:
    return 0 if last is None else last + step
