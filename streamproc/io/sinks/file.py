"""H.264 file output with the input's timestamps, and the input's audio copied through.

The audio is remuxed packet by packet from the input file (no re-encode), interleaved
with the video by time. MP4 output is fragmented by default, so a file cut short by a
crash or a kill is still playable up to its last fragment; a normal stop or Ctrl-C
always finalises the file.
"""

from __future__ import annotations

import errno
import logging
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import av.error
import cv2
import numpy as np

from streamproc.core.config import OutputConfig
from streamproc.core.cpus import usable_cpus
from streamproc.core.errors import OutputError
from streamproc.core.packet import FramePacket
from streamproc.io.convert import bgr_to_frame
from streamproc.io.sources import SourceInfo

log = logging.getLogger(__name__)

# output.encoder_threads=0 on <= 2 CPUs: frames smaller than this get one encoder thread.
ONE_THREAD_MAX_PX = 500_000


MIN_SIDE_PX = 16  # smaller frames are padded: H.264 encoders reject tiny pictures


def encodable_size(width: int, height: int) -> tuple[int, int]:
    """yuv420p needs even sides; pad (never crop) so every input pixel is kept."""
    return max(MIN_SIDE_PX, width + width % 2), max(MIN_SIDE_PX, height + height % 2)


def fit_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pad with edge pixels (right/bottom) or crop to exactly ``width`` x ``height``."""
    image = image[:height, :width]
    pad_h, pad_w = height - image.shape[0], width - image.shape[1]
    if pad_h or pad_w:
        image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    return image


class AudioPassthrough:
    """Copies the audio packets of ``path`` into ``output`` up to a given time."""

    def __init__(self, path: Path, output: av.container.OutputContainer) -> None:
        self._input = av.open(str(path))
        in_stream = self._input.streams.audio[0]
        self._out_stream = output.add_stream_from_template(in_stream)
        self._packets = self._input.demux(in_stream)
        self._pending: av.Packet | None = None
        self._output = output
        self.copied = 0

    def write_until(self, time_s: float | None) -> None:
        """Mux audio packets whose start time is <= ``time_s`` (all of them if None)."""
        try:
            while True:
                packet = self._pending or next(self._packets)
                self._pending = None
                if packet.dts is None:  # demuxer flush packet
                    continue
                if (
                    time_s is not None
                    and packet.pts is not None
                    and packet.time_base
                    and (float(packet.pts * packet.time_base) > time_s)
                ):
                    self._pending = packet
                    return
                packet.stream = self._out_stream
                self._output.mux(packet)
                self.copied += 1
        except StopIteration:
            return
        except av.error.InvalidDataError as err:
            log.warning("audio passthrough stopped: %s", err)

    def close(self) -> None:
        self._input.close()


def check_encodable(path: Path, config: OutputConfig) -> None:
    """Refuse, before any model loads, an output the muxer cannot take: an unknown or
    non-video codec, or a container that does not carry it (``-o x.webm`` with H.264)."""
    try:
        codec = av.codec.Codec(config.codec, "w")
    except av.codec.codec.UnknownCodecError:
        raise OutputError(f"output.codec {config.codec!r}: no such video encoder") from None
    if codec.type != "video":
        raise OutputError(f"output.codec {config.codec!r} encodes {codec.type}, not video")
    with tempfile.TemporaryDirectory(prefix="streamproc-probe-") as tmp:
        try:
            container = av.open(str(Path(tmp) / f"probe{path.suffix}"), mode="w")
        except (av.error.FFmpegError, OSError, ValueError) as err:
            raise OutputError(
                f"cannot write {path.name}: {getattr(err, 'strerror', None) or err} "
                "(name the output .mp4, .mkv, .mov, .avi or .ts)"
            ) from None
        try:
            container.add_stream(config.codec, rate=25)
        except (av.error.FFmpegError, ValueError) as err:
            raise OutputError(
                f"cannot write {path.name} with output.codec={config.codec}: {err} "
                "(use .mp4, .mkv or .mov, or another output.codec)"
            ) from None
        finally:
            container.close()


def _check_writable(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create output folder {parent}: {err.strerror}") from None
    if path.is_dir():
        raise OutputError(f"output path {path} is a folder, expected a video file name")


def pipeline_encoder_threads(config: OutputConfig, width_px: int, height_px: int) -> int:
    """``output.encoder_threads`` for a sink beside the pipeline's stages, 0 resolved.

    On two CPUs the detector and the generator already keep both cores busy, and x264's
    frame threads then cost more CPU than they overlap: one thread ran 768x432 clips 7-10 %
    faster end to end, 960x540 the same, 1280x720 3-5 % slower (RESULTS.md, stop 31). So
    0 = one thread for frames under ONE_THREAD_MAX_PX on <= 2 CPUs, else 0 (the encoder
    decides). A pass that only decodes and encodes (the bench's ceiling) keeps 0: alone,
    x264's own threading is the fastest."""
    if config.encoder_threads:
        return config.encoder_threads
    small = width_px * height_px < ONE_THREAD_MAX_PX
    return 1 if small and usable_cpus() <= 2 else 0


class FileSink:
    name = "file"

    def __init__(self, path: Path, info: SourceInfo, config: OutputConfig, live: bool) -> None:
        _check_writable(path)
        self.path = path
        self._info = info
        self._config = config
        options = {}
        # Fragmented: playable while it is written (the monitor's player), not only after.
        self.fragmented = config.fragmented_mp4 and path.suffix.lower() in (".mp4", ".mov", ".m4v")
        if self.fragmented:
            options["movflags"] = "+frag_keyframe+empty_moov+delay_moov+default_base_moof"
            options["flush_packets"] = "1"  # each fragment reaches the disk when complete
        try:
            self._container = av.open(str(path), mode="w", options=options)
        except (av.error.FFmpegError, OSError, ValueError) as err:
            raise OutputError(
                f"cannot write {path}: {getattr(err, 'strerror', None) or err}"
            ) from None
        self._stream = None
        self._audio = None
        self._live = live
        self._want_audio = config.copy_audio and info.has_audio and info.path and not live
        self.frames_written = 0
        self._closed = False

    def _open_stream(self, packet: FramePacket) -> None:
        rate = self._info.fps if self._info.fps else Fraction(25)
        try:
            stream = self._container.add_stream(self._config.codec, rate=rate)
        except ValueError as err:  # checked before the run; a codec the muxer refuses
            raise OutputError(f"cannot write {self.path.name}: {err}") from None
        stream.width, stream.height = encodable_size(packet.width_px, packet.height_px)
        stream.pix_fmt = "yuv420p"
        # A keyframe (and so an MP4 fragment) every couple of seconds bounds what a crash
        # can lose and lets players seek.
        stream.codec_context.gop_size = max(1, round(float(rate) * self._config.keyframe_s))
        stream.time_base = packet.time_base
        stream.codec_context.time_base = packet.time_base
        if self._config.codec in ("libx264", "libx265"):
            preset = self._config.live_preset if self._live else self._config.preset
            stream.options = {"crf": str(self._config.crf), "preset": preset}
        if self._config.codec == "libx264":
            # x264's threaded lookahead makes frame decisions depend on thread timing, so
            # the same frames can encode to different bytes. A synchronous lookahead gives
            # the same compression, deterministically (needed by `streamproc verify`).
            stream.options["x264-params"] = "sync-lookahead=0"
            if self._live:
                # No lookahead or B-frames: each frame is muxed as it is encoded, so a
                # killed process loses at most the fragment in progress (keyframe_s), not
                # also the frames waiting in x264's lookahead.
                stream.options["tune"] = "zerolatency"
        if self._config.encoder_threads:
            stream.codec_context.thread_count = self._config.encoder_threads
        self._stream = stream
        if self._want_audio:
            try:
                self._audio = AudioPassthrough(self._info.path, self._container)
            except (av.error.FFmpegError, ValueError) as err:
                log.warning("not copying audio: %s", err)

    def write(self, packet: FramePacket) -> None:
        if self._stream is None:
            self._open_stream(packet)
        image = fit_to(packet.image, self._stream.width, self._stream.height)
        frame = bgr_to_frame(image, self._stream.pix_fmt)
        frame.pts = packet.pts
        frame.time_base = packet.time_base
        try:
            if self._audio is not None:
                self._audio.write_until(packet.time_s)
            for out in self._stream.encode(frame):
                self._container.mux(out)
        except (av.error.FFmpegError, OSError) as err:
            raise _output_error(self.path, err) from None
        self.frames_written += 1

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._stream is not None:
                for out in self._stream.encode(None):
                    self._container.mux(out)
                if self._audio is not None:
                    self._audio.write_until(None)
        except (av.error.FFmpegError, OSError) as err:
            raise _output_error(self.path, err) from None
        finally:
            if self._audio is not None:
                self._audio.close()
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError) as err:
                log.warning("closing %s: %s", self.path, err)


def _output_error(path: Path, err: OSError) -> OutputError:
    if getattr(err, "errno", None) == errno.ENOSPC:
        return OutputError(f"disk full while writing {path}")
    return OutputError(f"cannot write {path}: {getattr(err, 'strerror', None) or err}")
