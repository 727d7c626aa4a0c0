"""The enhanced stream pushed to an RTSP server (a VMS or NVR records it), as FFmpeg's
``rtsp`` muxer does: ANNOUNCE, SETUP, RECORD, then RTP over the RTSP connection (TCP).

A recorder that is slow, down or restarting must never slow the pipeline or stop the
file output: ``write`` only puts the frame in a small queue (dropping it, counted, when
the queue is full), and the sink's own thread encodes (H.264, no lookahead, a keyframe
every second, so a recorder joining or coming back gets a picture within a second) and
sends. While the server is unreachable, frames are dropped and counted, and the thread
reconnects with the sources' backoff (``source.reconnect_initial_s``, doubling up to
``reconnect_max_s``; a connection that drops again soon keeps the longer wait). A server
that is down at start is one warning, not an error. The URL is masked in every message.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from urllib.parse import quote

import av
import av.error
import numpy as np

from streamproc.core.config import OutputConfig, SourceConfig
from streamproc.core.packet import FramePacket
from streamproc.core.urls import mask_url
from streamproc.io.convert import bgr_to_frame
from streamproc.io.sinks.file import encodable_size, fit_to
from streamproc.io.sources import SourceInfo

log = logging.getLogger(__name__)

QUEUE_FRAMES = 8  # about 1/3 s at 25 fps: more is latency, not smoothness
KEYFRAME_S = 1.0
POLL_S = 0.1
# RTP's video clock; each connection's stream starts at 0.
PUSH_TIME_BASE = Fraction(1, 90000)
# The connection and handshake time out (source.open_timeout_s), but FFmpeg's rtsp muxer
# has no timeout on sending: a server that stops reading yet keeps the connection blocks
# the sender (frames are dropped meanwhile). close() waits this long for it, then leaves it.
CLOSE_WAIT_S = 5.0
# A recorder holds what arrives in a jitter buffer (GStreamer's RTSP server: 200 ms) and
# drops it at TEARDOWN: before tearing down, the session stays open this long after the
# last frame, plus however far the stream's timestamps ran ahead of the wall clock (a file
# pushed faster than real time), at most LINGER_MAX_S. Measured with GStreamer's RECORD
# server: a 60-frame burst torn down at once lost every frame; 0.3 s later, none.
LINGER_S = 0.5
LINGER_MAX_S = 2.5
_SEND_ERRORS = (av.error.FFmpegError, OSError, ValueError)


def push_url(template: str, name: str, n_cameras: int) -> str:
    """Each camera's own path: ``{name}`` in ``template`` is the camera's name; without
    it, several cameras push to ``template/<name>`` (one camera to ``template`` itself)."""
    if n_cameras > 1:
        template = per_camera(template)
    return template.replace("{name}", quote(name, safe="-_.~"))


def per_camera(template: str) -> str:
    """``template`` with a ``/{name}`` path for each camera unless it names one already (a
    fleet's groups share one URL: each group's cameras need their own paths)."""
    if "{name}" in template:
        return template
    base, sep, query = template.partition("?")
    return f"{base.rstrip('/')}/{{name}}{sep}{query}"


@dataclass
class _Frame:
    image: np.ndarray
    pts: int
    time_base: Fraction


class _Connection:
    """One RTSP session: the container and its encoder. Connects at the first frame
    (FFmpeg's rtsp muxer talks to the server when the header is written)."""

    def __init__(
        self, url: str, first: _Frame, fps: Fraction, output: OutputConfig, open_timeout_s: float
    ) -> None:
        # TCP: RTP over the RTSP connection, so a lost packet is resent, not a broken
        # picture, and the server's address is the only port to reach. ``timeout`` bounds
        # the connection and the handshake (a server that accepts and never answers).
        options = {"rtsp_transport": "tcp", "timeout": str(round(open_timeout_s * 1e6))}
        self.container = av.open(url, mode="w", format="rtsp", options=options)
        try:
            stream = self.container.add_stream("libx264", rate=fps)
            height, width = first.image.shape[:2]
            stream.width, stream.height = encodable_size(width, height)
            stream.pix_fmt = "yuv420p"
            stream.time_base = PUSH_TIME_BASE
            stream.codec_context.time_base = PUSH_TIME_BASE
            stream.codec_context.gop_size = max(1, round(float(fps) * KEYFRAME_S))
            # Every frame leaves as soon as it is encoded: no lookahead, no B-frames.
            stream.options = {
                "preset": output.live_preset,
                "tune": "zerolatency",
                "crf": str(output.crf),
            }
        except _SEND_ERRORS:
            self.container.close()
            raise
        self.stream = stream
        self._first = first.pts * first.time_base
        self._last_pts = -1
        self._started: float | None = None  # wall clock at the first frame sent

    def send(self, frame: _Frame) -> None:
        image = fit_to(frame.image, self.stream.width, self.stream.height)
        video = bgr_to_frame(image, self.stream.pix_fmt)
        at = (frame.pts * frame.time_base - self._first) / PUSH_TIME_BASE
        video.pts = self._last_pts = max(self._last_pts + 1, round(at))
        video.time_base = PUSH_TIME_BASE
        self.container.mux(self.stream.encode(video))
        if self._started is None:
            self._started = time.monotonic()

    def linger_s(self) -> float:
        """How long to keep the session open after the last frame (see LINGER_S)."""
        if self._started is None:
            return 0.0
        ahead_s = float(self._last_pts * PUSH_TIME_BASE) - (time.monotonic() - self._started)
        return min(LINGER_MAX_S, LINGER_S + max(0.0, ahead_s))

    def close(self, flush: bool) -> None:
        try:
            if flush:
                self.container.mux(self.stream.encode(None))
                time.sleep(self.linger_s())  # the recorder plays out what it holds
        finally:
            self.container.close()  # sends TEARDOWN


class RtspPushSink:
    name = "rtsp_push"

    def __init__(
        self, url: str, info: SourceInfo, output: OutputConfig, source: SourceConfig
    ) -> None:
        """``url``: this camera's push URL (see :func:`push_url`); ``info``: the input's
        frame rate, read at each connection (a live camera's is known once it answers);
        ``source``: the reconnect backoff, the same as the inputs'."""
        self._url = url
        self.url = mask_url(url)
        self._info = info
        self._output = output
        self._backoff = source
        self._queue: queue.Queue[_Frame] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._lock = threading.Lock()
        self.frames_sent = 0
        self.frames_dropped = 0
        self.reconnects = 0
        self.connected = False
        self.last_error: str | None = None
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="streamproc-rtsp-push", daemon=True)
        self._thread.start()

    # -- the pipeline's side: never waits ------------------------------------------------
    def write(self, packet: FramePacket) -> None:
        try:
            self._queue.put_nowait(_Frame(packet.image, packet.pts, packet.time_base))
        except queue.Full:
            self._drop()

    def stats(self) -> dict[str, object]:
        """The counters, for the manifest and the end summary (``connected`` is live)."""
        with self._lock:
            return {
                "url": self.url,
                "frames_sent": self.frames_sent,
                "frames_dropped": self.frames_dropped,
                "reconnects": self.reconnects,
                "last_error": self.last_error,
            }

    def close(self) -> None:
        """Send what is queued (if connected), flush the encoder, tear the session down."""
        self._closing.set()
        self._thread.join(timeout=CLOSE_WAIT_S)
        if self._thread.is_alive():
            log.warning("rtsp push to %s: the server is not reading; leaving it", self.url)

    def _drop(self) -> None:
        with self._lock:
            self.frames_dropped += 1

    # -- the sender thread ---------------------------------------------------------------
    def _run(self) -> None:
        conn: _Connection | None = None
        backoff = _Backoff(self._backoff)
        try:
            while True:
                try:
                    frame = self._queue.get(timeout=POLL_S)
                except queue.Empty:
                    if self._closing.is_set():
                        return
                    continue
                if conn is None and (not backoff.due() or self._closing.is_set()):
                    self._drop()  # disconnected: fresh frames matter, not a backlog
                    continue
                try:
                    if conn is None:
                        conn = _Connection(
                            self._url,
                            frame,
                            self._info.fps,
                            self._output,
                            self._backoff.open_timeout_s,
                        )
                        conn.send(frame)  # connects
                        failures = backoff.failures
                        self._connected(backoff.connected(), failures)
                    else:
                        conn.send(frame)
                except _SEND_ERRORS as err:
                    self._drop()
                    if conn is not None:
                        _close_quietly(conn)
                        conn = None
                    self._failed(mask_url(str(err)), backoff)
                    continue
                with self._lock:
                    self.frames_sent += 1
        finally:
            if conn is not None:
                try:
                    conn.close(flush=True)
                except _SEND_ERRORS as err:
                    log.warning("rtsp push to %s: closing: %s", self.url, mask_url(str(err)))
            with self._lock:
                self.connected = False

    def _connected(self, gap_s: float | None, failures: int) -> None:
        """``gap_s``: how long the push was down (None: the first connection);
        ``failures``: the attempts that failed before this one."""
        with self._lock:
            self.connected, self.last_error = True, None
            self.reconnects += gap_s is not None
        if gap_s is not None:
            log.warning("rtsp push to %s: reconnected after %.1f s", self.url, gap_s)
        elif failures:  # after the "cannot connect" warning
            log.warning("rtsp push to %s: connected after %d attempts", self.url, failures + 1)
        else:
            log.info("rtsp push to %s: connected", self.url)

    def _failed(self, reason: str, backoff: _Backoff) -> None:
        """A connection that failed or dropped: one warning per outage, then retries."""
        with self._lock:
            was_up, self.connected, self.last_error = self.connected, False, reason
        if was_up:
            log.warning("rtsp push to %s lost (%s); reconnecting", self.url, reason)
        elif backoff.never_connected and not backoff.failures:
            log.warning(
                "rtsp push to %s: cannot connect (%s); its frames are dropped until it "
                "answers, retrying",
                self.url,
                reason,
            )
        backoff.failed(was_up)


class _Backoff:
    """The reconnect timing of ``streamproc.io.sources.live``, for the push: every retry
    waits first, from ``reconnect_initial_s`` doubling to ``reconnect_max_s``; a
    connection that drops within ``reconnect_max_s`` keeps the delay it had."""

    def __init__(self, config: SourceConfig) -> None:
        self._config = config
        self._delay_s = config.reconnect_initial_s
        self._retry_at = 0.0
        self._up_since: float | None = None
        self._down_since: float | None = None
        self.never_connected = True
        self.failures = 0  # in a row

    def due(self) -> bool:
        return time.monotonic() >= self._retry_at

    def connected(self) -> float | None:
        """Note a connection; return how long it was down (None: the first one)."""
        now = time.monotonic()
        gap_s = None if self.never_connected else now - (self._down_since or now)
        self._up_since, self._down_since = now, None
        self.never_connected, self.failures = False, 0
        return gap_s

    def failed(self, was_up: bool) -> None:
        now = time.monotonic()
        if was_up:
            self._down_since = now
            if self._up_since is not None and now - self._up_since >= self._config.reconnect_max_s:
                self._delay_s = self._config.reconnect_initial_s  # it was up: a new outage
        self.failures += 1
        self._retry_at = now + self._delay_s
        self._delay_s = min(self._delay_s * 2, self._config.reconnect_max_s)


def _close_quietly(conn: _Connection) -> None:
    try:
        conn.close(flush=False)
    except _SEND_ERRORS as err:
        log.debug("closing a lost rtsp push: %s", err)
