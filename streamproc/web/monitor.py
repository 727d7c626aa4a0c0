"""The one stats view: what the monitor page (web/), the terminal dashboard and the fleet
status read, built from the engine's counters. The engine never imports this (monitoring
stays out of it).

Health is said in words an operator can act on: each camera's status comes with its
reason (the last error, credentials masked), the age of its latest frame and its
reconnects; a live camera running far below its rate is ``slow``, not ``live``; a camera
whose input has ended is ``finishing`` until its queued frames are written, then
``ended``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamproc.core.urls import mask_url
from streamproc.io.sinks.file import FileSink

if TYPE_CHECKING:
    from streamproc.core.pipeline import Camera, Pipeline

# A live camera delivering less than this share of its nominal rate is "slow".
SLOW_SHARE = 0.5
# The recent rate is measured over this window (and only once it has this much history).
RATE_WINDOW_S = 5.0
RATE_MIN_HISTORY_S = 2.0

# What a browser's <video> plays, by the recording's suffix (as its Content-Type).
BROWSER_VIDEO = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/mp4",
    ".webm": "video/webm",
}

UNOPENED_ZEROS = (
    "frames_in",
    "frames_out",
    "dropped",
    "faces",
    "faces_enhanced",
    "faces_fused",
    "fps",
    "recent_fps",
    "latency_ms_p50",
    "latency_ms_p95",
    "queued",
    "reconnects",
)


class RateMeter:
    """Each camera's recent output rate, from the frame counts seen at each reading (the
    page polls twice a second, the dashboard four times): an average since the start
    would hide a camera that dropped to 1 fps a minute ago."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    def fps(self, cam_id: str, frames: int, now: float) -> float | None:
        """Frames per second over the last ``window_s``; None until there is history."""
        samples = self._samples.setdefault(cam_id, deque())
        samples.append((now, frames))
        while len(samples) > 2 and now - samples[1][0] >= self.window_s:
            samples.popleft()
        t0, f0 = samples[0]
        if now - t0 < RATE_MIN_HISTORY_S:
            return None
        return (frames - f0) / (now - t0)


def camera_health(cam: Camera, recent_fps: float | None, now: float) -> dict[str, Any]:
    """Status, its reason, the latest frame's age (s) and the last error of one camera."""
    status = cam.status
    source = cam.source
    last_error = getattr(source, "last_error", None)
    if cam.error is not None:
        last_error = mask_url(str(cam.error))
    reason = None
    if status in ("failed", "connecting", "reconnecting"):
        reason = last_error
    elif status == "ended" and cam.stats.frames_in == 0 and last_error:
        reason = f"never connected: {last_error}"
    elif status == "ended" and not cam.written_all:
        status = "finishing"
        reason = f"{cam.stats.frames_in - cam.stats.frames_out - cam.stats.dropped} frames queued"
    elif status == "live" and recent_fps is not None:
        nominal = float(source.info.fps or 0)
        if nominal > 0 and recent_fps < SLOW_SHARE * nominal:
            status = "slow"
            reason = f"{recent_fps:.1f} of {nominal:.0f} fps, {cam.stats.dropped} frames dropped"
    last = cam.stats.last_frame_s
    return {
        "status": status,
        "reason": reason,
        "error": last_error,
        "last_frame_age_s": None if last is None else round(now - last, 1),
    }


def recording_file(cam: Camera) -> FileSink | None:
    """The video file this camera's job writes, if it writes one (not ``-o null``, an
    image folder or a live camera's parts): the only file the monitor serves for it."""
    sink = cam.sinks[0] if cam.sinks else None
    return sink if isinstance(sink, FileSink) else None


def recording_view(cam: Camera) -> dict[str, Any] | None:
    """The page's player for the camera's recording: its URL, whether a browser can play
    it now, and if not why. A fragmented MP4 plays while it is written (up to its last
    fragment); any other container only once the camera has ended and it is finalised."""
    sink = recording_file(cam)
    if sink is None:
        return None
    why = None
    if sink.path.suffix.lower() not in BROWSER_VIDEO:
        why = f"a browser cannot play {sink.path.suffix} recordings: open {sink.path.name}"
    elif not (sink.closed or sink.fragmented):
        why = "recording available when the camera ends"
    elif sink.frames_written == 0 or not _has_bytes(sink.path):
        # A fragment reaches the disk once complete (output.keyframe_s of video).
        why = "nothing recorded yet" if sink.frames_written == 0 else "recording starts shortly"
    return {"url": f"/cam/{cam.id}/recording", "ready": why is None, "why": why}


def _has_bytes(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def camera_view(cam: Camera, meter: RateMeter | None = None) -> dict[str, Any]:
    """Everything shown about one camera (the page's tile, a dashboard row)."""
    s = cam.stats
    now = time.monotonic()
    recent = None if meter is None else meter.fps(cam.id, s.frames_out, now)
    return {
        "id": cam.id,
        "name": cam.name,
        "source": cam.source.info.name,
        "live": cam.live,
        **camera_health(cam, recent, now),
        "frames_in": s.frames_in,
        "frames_out": s.frames_out,
        "dropped": s.dropped,
        "faces": s.faces,
        "faces_enhanced": s.faces_enhanced,
        "faces_fused": s.faces_fused,  # multi-frame fusion (#14)
        "fps": round(s.fps, 2),
        "recent_fps": None if recent is None else round(recent, 2),
        "nominal_fps": round(float(cam.source.info.fps or 0), 2),
        "latency_ms_p50": round(s.latency_percentile_ms(50), 1),
        "latency_ms_p95": round(s.latency_percentile_ms(95), 1),
        "queued": cam.inbox.qsize(),
        "stages_ms": {st.name: round(st.ms_per_frame, 2) for st in s.stages.values()},
        "reconnects": getattr(cam.source, "reconnects", 0),
        "output": None if cam.output is None else str(cam.output),
        "push": next((k.stats() for k in cam.sinks if getattr(k, "name", "") == "rtsp_push"), None),
        "recording": recording_view(cam),
        "recent_faces": [] if cam.preview is None else cam.preview.faces(),
    }


def unopened_view(cam: dict[str, str]) -> dict[str, Any]:
    """A camera that could not be opened: failed, with its (masked) reason."""
    return {
        "source": cam["name"],
        **cam,
        "status": "failed",
        "reason": cam["error"],
        "live": False,
        "last_frame_age_s": None,
        **dict.fromkeys(UNOPENED_ZEROS, 0),
        "push": None,
        "nominal_fps": 0,
        "stages_ms": {},
        "output": None,
        "recording": None,
        "recent_faces": [],
    }


def snapshot(pipeline: Pipeline, meter: RateMeter | None = None) -> dict[str, Any]:
    """Everything the monitor page and the fleet status show, as plain JSON-able data."""
    cams = [camera_view(cam, meter) for cam in pipeline.cameras]
    cams += [unopened_view(cam) for cam in pipeline.unopened]
    cams.sort(key=lambda c: int(c["id"]) if c["id"].isdigit() else c["id"])
    batch = pipeline.shared.stages.get("batch")
    return {
        "status": pipeline.shared.status,
        "elapsed_s": round(pipeline.shared.elapsed_s, 2),
        "frames": pipeline.shared.frames_in,
        "mean_batch_frames": round(batch.frames / batch.calls, 2) if batch else 0.0,
        "stages": {
            st.name: {
                "frames": st.frames,
                "ms_per_frame": round(st.ms_per_frame, 2),
                "capacity_fps": round(st.capacity_fps, 1),
            }
            for st in pipeline.shared.stages.values()
            if st.name != "batch"
        },
        "cameras": cams,
    }


def starting_snapshot(names: Sequence[str], sources: Sequence[str]) -> dict[str, Any]:
    """What the page shows while inputs open and models load: every camera ``starting``."""
    cams = [
        {
            "id": str(i),
            "name": name,
            "source": mask_url(source),
            "status": "starting",
            "reason": "loading models and opening inputs",
            "error": None,
            "live": False,
            "last_frame_age_s": None,
            **dict.fromkeys(UNOPENED_ZEROS, 0),
            "push": None,
            "nominal_fps": 0,
            "stages_ms": {},
            "output": None,
            "recording": None,
            "recent_faces": [],
        }
        for i, (name, source) in enumerate(zip(names, sources, strict=True))
    ]
    return {
        "status": "starting",
        "elapsed_s": 0.0,
        "frames": 0,
        "mean_batch_frames": 0.0,
        "stages": {},
        "cameras": cams,
    }


def default_names(names: Sequence[str | None]) -> list[str]:
    """Each camera's name: the one given, else ``camN`` (N its index), unique."""
    out: list[str] = []
    for i, name in enumerate(names):
        candidate = name or f"cam{i}"
        while candidate in out:
            candidate = f"{candidate}-{i}"
        out.append(candidate)
    return out


def name_cameras(pipeline: Pipeline, names: Sequence[str]) -> None:
    """Label every camera (and every camera that could not be opened) by its index."""
    for cam in pipeline.cameras:
        cam.label = names[int(cam.id)]
    for cam in pipeline.unopened:
        cam["source"] = cam.get("source", cam["name"])
        cam["name"] = names[int(cam["id"])]
