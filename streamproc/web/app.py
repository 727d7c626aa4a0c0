"""Monitor routes: the page, one MJPEG stream per camera and view, stats JSON, face crops.

This is the process's one MJPEG server: ``--serve`` runs it for the page, and
``output.mjpeg_port`` runs it for a viewer or VMS that pulls ``/stream.mjpg`` (the first
camera) or ``/cam/N/stream.mjpg``.

The pipeline never waits for a viewer: each stream sends the newest frame when it changes
(a slow browser skips frames), and JPEGs are encoded once per frame and view, on demand.

The page is up before the pipeline exists (:class:`MonitorState`: every camera
"starting" while inputs open and models load) and after it has finished (the last frame
of each camera, its stats and faces stay served until the server is closed).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from streamproc.core.errors import OutputError
from streamproc.core.pipeline import Camera, Pipeline
from streamproc.web.monitor import (
    BROWSER_VIDEO,
    RateMeter,
    recording_file,
    recording_view,
    snapshot,
    starting_snapshot,
)
from streamproc.web.page import PAGE
from streamproc.web.preview import VIEWS, Preview

log = logging.getLogger(__name__)
BOUNDARY = "streamprocframe"
FRAME_POLL_S = 0.02
RESEND_S = 1.0


class MonitorState:
    """What the page serves: the starting view until :meth:`attach` gives it the pipeline."""

    def __init__(self, names: Sequence[str] = (), sources: Sequence[str] = ()) -> None:
        self._starting = starting_snapshot(names, sources)
        self.pipeline: Pipeline | None = None
        self.meter = RateMeter()
        self._lock = threading.Lock()

    def attach(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def snapshot(self) -> dict:
        pipeline = self.pipeline
        if pipeline is None:
            return self._starting
        with self._lock:  # the meter's samples: one request at a time
            return snapshot(pipeline, self.meter)

    def camera(self, cam_id: str | None) -> Camera | None:
        """Camera ``cam_id``; ``None``: the first camera."""
        pipeline = self.pipeline
        if pipeline is None or not pipeline.cameras:
            return None
        cams = pipeline.cameras
        return cams[0] if cam_id is None else next((c for c in cams if c.id == cam_id), None)

    def preview(self, cam_id: str | None) -> Preview | None:
        cam = self.camera(cam_id)
        return None if cam is None else cam.preview


def build_app(pipeline: Pipeline | MonitorState) -> Starlette:
    if isinstance(pipeline, MonitorState):
        state = pipeline
    else:
        state = MonitorState()
        state.attach(pipeline)

    def preview_of(request: Request) -> Preview:
        preview = state.preview(request.path_params.get("cam_id"))
        if preview is None:
            raise LookupError
        return preview

    async def page(_: Request) -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Cache-Control": "no-store"})

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse(state.snapshot(), headers={"Cache-Control": "no-store"})

    async def stream(request: Request) -> Response:
        view = request.query_params.get("view", "enhanced")
        if view not in VIEWS:
            return Response(f"view must be one of {', '.join(VIEWS)}", status_code=400)
        try:
            preview = preview_of(request)
        except LookupError:
            return Response("no such camera", status_code=404)
        return StreamingResponse(
            _mjpeg(preview, view),
            media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            headers={"Cache-Control": "no-store"},
        )

    async def face(request: Request) -> Response:
        """A track's kept crop (``?kind=original``: before enhancement). The page asks with
        the event's version in the URL, so a browser may cache each image for good."""
        kind = request.query_params.get("kind", "enhanced")
        if kind not in ("enhanced", "original"):
            return Response("kind must be enhanced or original", status_code=400)
        try:
            jpeg = preview_of(request).face_jpeg(request.path_params["track_id"], kind)
        except LookupError:
            jpeg = None
        if jpeg is None:
            return Response("no such face", status_code=404)
        cache = "private, max-age=3600" if "v" in request.query_params else "no-store"
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": cache})

    async def recording(request: Request) -> Response:
        """The camera's recorded file, with Range requests (a <video> seeks by them). By
        camera id only: the client never names a path, and only the file this job writes
        for that camera is served."""
        cam = state.camera(request.path_params["cam_id"])
        sink = None if cam is None else recording_file(cam)
        if cam is None or sink is None:
            return Response("this camera has no recording", status_code=404)
        view = recording_view(cam)
        if not view["ready"]:
            return Response(view["why"], status_code=409)
        return FileResponse(
            sink.path,
            media_type=BROWSER_VIDEO[sink.path.suffix.lower()],
            headers={"Cache-Control": "no-store"},  # it grows while the camera records
        )

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/stats", stats),
            Route("/cam/{cam_id}/stream.mjpg", stream),
            Route("/stream.mjpg", stream),  # the first camera (``output.mjpeg_port``'s URL)
            Route("/cam/{cam_id}/face/{track_id:int}.jpg", face),
            Route("/cam/{cam_id}/recording", recording),
        ]
    )


async def _mjpeg(preview: Preview, view: str) -> AsyncIterator[bytes]:
    """Each new frame; once the camera is closed, its last frame (if any) and the end.

    With no new frame the last one is sent again every ``RESEND_S``: a browser shows a part
    of the stream only once the next one starts, so a camera that stopped delivering (a
    file at its end, a camera reconnecting) would otherwise never show its last frame.
    """
    seq, last, sent_s = 0, None, 0.0
    while True:
        closed = preview.closed
        if preview.seq == seq:
            if closed:
                return
            if last is not None and time.monotonic() - sent_s > RESEND_S:
                sent_s = time.monotonic()
                yield mjpeg_part(last, first=False)
            await asyncio.sleep(FRAME_POLL_S)
            continue
        seq, jpeg = await asyncio.to_thread(preview.jpeg, view)
        if jpeg is None:
            if closed:
                return
            await asyncio.sleep(FRAME_POLL_S)
            continue
        yield mjpeg_part(jpeg, first=last is None)
        last, sent_s = jpeg, time.monotonic()


# A stream opens with a boundary and every part ends with the next one: a browser shows a
# part only once it sees the boundary after it, so a camera that has ended (one last frame,
# then nothing) would otherwise never show its last frame.
MJPEG_START = f"--{BOUNDARY}\r\n".encode()


def mjpeg_part(jpeg: bytes, first: bool) -> bytes:
    """One part of a multipart/x-mixed-replace MJPEG stream; the first opens the stream."""
    head = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return (MJPEG_START if first else b"") + head.encode() + jpeg + b"\r\n" + MJPEG_START


class AppServer:
    """uvicorn in a background thread on a socket bound here (a taken port is one clear
    error, not uvicorn's log line and a dying thread); ``close()`` stops it."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self._sock = _listen(host, port)
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="streamproc-monitor",
            daemon=True,
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                self._sock.close()
                raise OutputError(f"cannot serve on {host}:{port}")
            self._thread.join(0.05)
        bound_host, bound_port = self._sock.getsockname()[:2]
        self.url = f"http://{bound_host}:{bound_port}/"

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def _listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as err:
        raise OutputError(f"cannot serve on {host}:{port}: {err.strerror or err}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        sock.close()
        raise OutputError(f"cannot serve on {host}:{port}: {err.strerror or err}") from None
    return sock


class MonitorServer(AppServer):
    """The monitor page of one multi-camera pipeline (or of a :class:`MonitorState` that
    gets its pipeline later)."""

    def __init__(self, pipeline: Pipeline | MonitorState, host: str, port: int) -> None:
        super().__init__(build_app(pipeline), host, port)
