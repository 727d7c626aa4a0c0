"""Video files through PyAV. Lossless: every decodable frame comes out, with its pts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from streamproc.config import SourceConfig
from streamproc.errors import InputError
from streamproc.packet import FramePacket
from streamproc.sources import SourceInfo

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
        return _info_from(container, path)
    finally:
        container.close()


def _info_from(container: av.container.InputContainer, path: Path) -> SourceInfo:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no"]
        raise InputError(f"{path.name} has no video stream (found {', '.join(kinds)} streams)")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if not ctx.width or not ctx.height:
        raise InputError(f"{path.name}: video stream has no frame size (corrupt header)")
    fps = stream.average_rate or stream.guessed_rate or Fraction(25)
    return SourceInfo(
        name=path.name,
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

    def __init__(self, path: Path, config: SourceConfig) -> None:
        self._config = config
        self._container = _open_container(path)
        try:
            self.info = _info_from(self._container, path)
        except InputError:
            self._container.close()
            raise
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"

    def frames(self, stop: threading.Event) -> Iterator[FramePacket]:
        index = 0
        last_pts: int | None = None
        step = _pts_step(self.info)
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
                    yield FramePacket(
                        index=index,
                        pts=pts,
                        time_base=self.info.time_base,
                        image=upright_bgr(frame),
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


def upright_bgr(frame: av.VideoFrame) -> np.ndarray:
    """Decode to BGR and apply the stream's display rotation (phones, some cameras).

    Faces lying on their side are not detected, and players would show the output
    sideways: the output is written upright, without rotation metadata.
    """
    image = frame.to_ndarray(format="bgr24")
    quarter_turns = round((frame.rotation or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def _pts_step(info: SourceInfo) -> int:
    step = 1 / (info.fps * info.time_base) if info.fps and info.time_base else 1
    return max(1, round(step))


def _next_pts(last: int | None, step: int) -> int:
    return 0 if last is None else last + step
