"""Live preview as MJPEG over HTTP (multipart/x-mixed-replace), bound to 127.0.0.1.

Uses the standard library's HTTP server; each client gets the newest frame, never a
backlog, so a slow viewer cannot slow the pipeline.
"""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from streamproc.core.errors import OutputError
from streamproc.core.packet import FramePacket

log = logging.getLogger(__name__)
BOUNDARY = "streamprocframe"


class _LatestFrame:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self.closed = False

    def publish(self, jpeg: bytes) -> None:
        with self._cond:
            self._jpeg, self._seq = jpeg, self._seq + 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def wait_newer(self, seq: int, timeout_s: float) -> tuple[int, bytes | None]:
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self.closed, timeout=timeout_s)
            return self._seq, self._jpeg if self._seq > seq else None


def _handler_for(latest: _LatestFrame) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            if self.path.split("?")[0] not in ("/", "/stream.mjpg"):
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seq = 0
            try:
                while not latest.closed:
                    seq, jpeg = latest.wait_newer(seq, timeout_s=1.0)
                    if jpeg is None:
                        continue
                    self.wfile.write(
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                    )
                    self.wfile.write(jpeg + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("mjpeg: " + format, *args)

    return Handler


class MjpegSink:
    name = "mjpeg"

    def __init__(self, host: str, port: int, quality: int) -> None:
        self._latest = _LatestFrame()
        try:
            self._server = ThreadingHTTPServer((host, port), _handler_for(self._latest))
        except OSError as err:
            raise OutputError(f"cannot serve MJPEG on {host}:{port}: {err.strerror}") from None
        self._server.daemon_threads = True
        self._quality = quality
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mjpeg-http", daemon=True
        )
        self._thread.start()
        self.url = f"http://{host}:{self._server.server_address[1]}/stream.mjpg"

    def write(self, packet: FramePacket) -> None:
        ok, data = cv2.imencode(".jpg", packet.image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if ok:
            self._latest.publish(data.tobytes())

    def close(self) -> None:
        self._latest.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
