"""The one stats view: what the monitor page (web/) and the fleet status read, built from
the engine's counters. The engine never imports this (monitoring stays out of it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamproc.core.pipeline import Pipeline

UNOPENED_ZEROS = (
    "frames_in",
    "frames_out",
    "dropped",
    "faces",
    "faces_enhanced",
    "faces_fused",
    "fps",
    "latency_ms_p50",
    "latency_ms_p95",
    "queued",
    "reconnects",
)


def snapshot(pipeline: Pipeline) -> dict[str, Any]:
    """Everything the monitor page and the fleet status show, as plain JSON-able data."""
    cams = []
    for cam in pipeline.cameras:
        s = cam.stats
        cams.append(
            {
                "id": cam.id,
                "name": cam.name,
                "status": cam.status,
                "live": cam.live,
                "error": None if cam.error is None else str(cam.error),
                "frames_in": s.frames_in,
                "frames_out": s.frames_out,
                "dropped": s.dropped,
                "faces": s.faces,
                "faces_enhanced": s.faces_enhanced,
                "faces_fused": s.faces_fused,  # multi-frame fusion (#14)
                "fps": round(s.fps, 2),
                "latency_ms_p50": round(s.latency_percentile_ms(50), 1),
                "latency_ms_p95": round(s.latency_percentile_ms(95), 1),
                "queued": cam.inbox.qsize(),
                "stages_ms": {st.name: round(st.ms_per_frame, 2) for st in s.stages.values()},
                "reconnects": getattr(cam.source, "reconnects", 0),
                "recent_faces": [] if cam.preview is None else cam.preview.faces(),
            }
        )
    for cam in pipeline.unopened:
        cams.append(
            {
                **cam,
                "status": "failed",
                "live": False,
                **dict.fromkeys(UNOPENED_ZEROS, 0),
                "stages_ms": {},
                "recent_faces": [],
            }
        )
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
