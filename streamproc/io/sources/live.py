"""Network streams (RTSP, HTTP, ...) and capture devices (V4L2), with reconnect.

A camera that drops is normal in CCTV: after the first successful connection, a read
error, an end of stream or a stall longer than ``watchdog_s`` closes the connection and
reopens it with exponential backoff (the first retry waits ``reconnect_initial_s``; a
connection that drops again within ``reconnect_max_s`` keeps the delay growing, so a
server that closes at once is not hammered). A file served over HTTP is not a stream (see
``open_source``): its end is the end. Each outage is recorded as an event (start, length)
so the log and the manifest show the gap. The first connection failing is a user error
(wrong URL, wrong credentials) and is reported at once, unless the caller asked to wait
for the camera (a monitor or fleet starting while a camera reboots).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from fractions import Fraction

import av
import av.error

from streamproc.core.config import SourceConfig
from streamproc.core.errors import InputError
from streamproc.core.packet import FramePacket
from streamproc.core.urls import is_device, mask_url
from streamproc.io.sources import SourceInfo
from streamproc.io.sources.file import FirstSize, upright_bgr

log = logging.getLogger(__name__)

# Live output is timed by the wall clock: camera pts restart on reconnect.
LIVE_TIME_BASE = Fraction(1, 90000)


def open_live(spec: str, config: SourceConfig) -> av.container.InputContainer:
    """Open a stream or device with the configured timeouts; InputError if it fails."""
    name = mask_url(spec)
    options, fmt = {}, None
    if is_device(spec):
        spec, fmt = spec.removeprefix("v4l2://"), "v4l2"
    elif spec.lower().startswith("rtsp"):
        options["rtsp_transport"] = config.rtsp_transport
    try:
        container = av.open(
            spec, format=fmt, options=options, timeout=(config.open_timeout_s, config.watchdog_s)
        )
    except av.error.FFmpegError as err:
        raise InputError(f"cannot open {name}: {err.strerror}") from None
    except (OSError, ValueError) as err:
        raise InputError(f"cannot open {name}: {err}") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{name} has no video stream")
    return container


class LiveSource:
    live = True

    def __init__(
        self,
        spec: str,
        config: SourceConfig,
        wait_for_camera: bool = False,
        container: av.container.InputContainer | None = None,
    ) -> None:
        """``wait_for_camera``: a camera that cannot be reached yet is not an error; it is
        retried with backoff (``status`` "connecting") until it answers or ``stop``.
        ``container``: the stream, if the caller already opened it (``open_source``)."""
        self._spec = spec
        self._config = config
        self.name = mask_url(spec)
        self.info = SourceInfo(
            name=self.name,
            width_px=0,
            height_px=0,
            fps=Fraction(25),
            time_base=LIVE_TIME_BASE,
            frame_count=0,
            has_audio=False,
            path=None,
        )
        self._container: av.container.InputContainer | None = None
        # Why the camera is not live (masked), for the operator; None while it is live.
        self.last_error: str | None = None
        try:
            self._container = self._open() if container is None else self._ready(container)
        except InputError as err:
            if not wait_for_camera:
                raise
            self.last_error = mask_url(str(err))
            log.warning("%s; will keep trying", err)
        self.status = "connecting" if self._container is None else "live"
        self.reconnects = 0
        self._delay_s = config.reconnect_initial_s  # the wait before the next reconnect

    def _describe(self, container: av.container.InputContainer) -> None:
        """Fill in the stream's size and rate (at the first connection)."""
        stream = container.streams.video[0]
        self.info.width_px = stream.codec_context.width
        self.info.height_px = stream.codec_context.height
        self.info.fps = Fraction(stream.average_rate or stream.guessed_rate or 25)

    def _open(self) -> av.container.InputContainer:
        return self._ready(open_live(self._spec, self._config))

    def _ready(self, container: av.container.InputContainer) -> av.container.InputContainer:
        container.streams.video[0].thread_type = "AUTO"
        if not self.info.width_px:
            self._describe(container)
        return container

    def frames(self, stop: threading.Event) -> Iterator[FramePacket]:
        index = 0
        container: av.container.InputContainer | None = self._container
        t0 = time.monotonic()
        last_pts = -1
        same_size = FirstSize(self.info)  # a camera may come back at another resolution
        while not stop.is_set():
            if container is None:
                container = self._reconnect(stop)  # also the first connection, if waiting
                if container is None:
                    return
            connected_at = time.monotonic()
            try:
                for frame in container.decode(video=0):
                    now = time.monotonic()
                    pts = max(last_pts + 1, round((now - t0) / LIVE_TIME_BASE))
                    last_pts = pts
                    yield FramePacket(
                        index=index,
                        pts=pts,
                        time_base=LIVE_TIME_BASE,
                        image=same_size(upright_bgr(frame), index),
                        capture_s=now,
                    )
                    index += 1
                    if stop.is_set():
                        return
                reason = "end of stream"
            except (av.error.FFmpegError, OSError) as err:
                reason = str(err)
            finally:
                container.close()
            container = None
            if not self._config.reconnect or stop.is_set():
                return
            if time.monotonic() - connected_at >= self._config.reconnect_max_s:
                self._delay_s = self._config.reconnect_initial_s  # it was up: a new outage
            self.status = "reconnecting"
            self.last_error = f"stream lost: {mask_url(reason)}"
            self.info.events.append(
                {
                    "event": "disconnect",
                    "at_s": time.monotonic() - t0,
                    "frame": index,
                    "reason": mask_url(reason),
                }
            )
            log.warning(
                "%s: stream lost at frame %d (%s); reconnecting", self.name, index, mask_url(reason)
            )

    def _reconnect(self, stop: threading.Event) -> av.container.InputContainer | None:
        """Reopen with backoff. Every retry waits first (only a first connection that is
        being waited for starts at once): a stream that ends as soon as it is opened
        must not be reopened in a tight loop."""
        delay_s = self._delay_s
        attempts = 0
        lost_at = time.monotonic()
        first = self.status == "connecting"
        while not stop.is_set():
            if attempts or not first:
                if stop.wait(delay_s):
                    return None
                delay_s = min(delay_s * 2, self._config.reconnect_max_s)
            try:
                container = self._open()
            except InputError as err:
                self.last_error = mask_url(str(err))
                attempts += 1
                limit = self._config.reconnect_max_attempts
                if limit and attempts >= limit:
                    raise InputError(f"{self.name}: gave up after {attempts} reconnects") from err
                continue
            self._delay_s = delay_s  # dropping again soon waits longer
            gap_s = time.monotonic() - lost_at
            self.reconnects += 0 if first else 1
            self.status = "live"
            self.last_error = None
            event = "connected" if first else "reconnected"
            self.info.events.append(
                {"event": event, "gap_s": round(gap_s, 3), "attempts": attempts + 1}
            )
            log.warning("%s: %s after %.1f s", self.name, event, gap_s)
            return container
        return None

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
