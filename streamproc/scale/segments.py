"""Long files cut at keyframes into segments, and the segment outputs joined back.

Both directions are remuxes (stream copy, no re-encode): cutting at keyframes keeps every
segment decodable on its own, and the pipeline's encoder starts each segment output with
a keyframe, so the join is at keyframes too. Segments keep the input's timestamps; the
join rebases them anyway so the joined video is continuous whatever a muxer did.

Caveat: each segment runs its own tracker, so box smoothing re-converges at every cut and
a person gets a new track id (ids are offset per segment in the joined manifest, so no id
is reused); with tracking off, the joined frames equal an unsplit run's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from streamproc.audit.hashing import sha256_file
from streamproc.audit.manifest import manifest_path
from streamproc.core.errors import InputError

TRACK_ID_STRIDE = 1_000_000


@dataclass(frozen=True)
class SegmentPlan:
    """Where the segments of one input are, and where their outputs and the join go."""

    output: Path
    inputs: tuple[Path, ...]
    outputs: tuple[Path, ...]


def segment_dir(output: Path) -> Path:
    return output.parent / ".segments" / output.name.removesuffix(".mp4")


def split(path: Path, output: Path, segment_s: float) -> SegmentPlan | None:
    """Cut ``path`` (video only) at the first keyframe after every ``segment_s`` seconds.

    None when the file is short enough to be one segment.
    """
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise InputError(f"cannot open {path}: {getattr(err, 'strerror', None) or err}") from None
    folder = segment_dir(output)
    inputs: list[Path] = []
    writer = None
    try:
        if not container.streams.video:
            raise InputError(f"{path} has no video stream")
        stream = container.streams.video[0]
        start_s: float | None = None
        out_stream = None
        for packet in container.demux(stream):
            if packet.dts is None:
                continue
            time_s = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
            if packet.is_keyframe and (start_s is None or time_s - start_s >= segment_s):
                if writer is not None:
                    writer.close()
                folder.mkdir(parents=True, exist_ok=True)
                inputs.append(folder / f"in{len(inputs):04d}.mp4")
                writer = av.open(str(inputs[-1]), mode="w")
                out_stream = writer.add_stream_from_template(stream)
                start_s = time_s
            if writer is None:  # packets before the first keyframe cannot be decoded alone
                continue
            packet.stream = out_stream
            writer.mux(packet)
    except av.error.FFmpegError as err:
        raise InputError(f"cannot split {path}: {err}") from None
    finally:
        if writer is not None:
            writer.close()
        container.close()
    if len(inputs) <= 1:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    outputs = tuple(folder / f"out{i:04d}.mp4" for i in range(len(inputs)))
    return SegmentPlan(output, tuple(inputs), outputs)


def remove(plan: SegmentPlan) -> None:
    """Delete the cut inputs and segment outputs (and ``.segments`` when it is empty)."""
    folder = segment_dir(plan.output)
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # other inputs' segments may still be there
        folder.parent.rmdir()


def join(plan: SegmentPlan, original: Path) -> dict:
    """Remux the segment outputs into ``plan.output`` with continuous pts; write a manifest.

    The audio, which segments do not carry, is copied from the original input.
    """
    tmp = plan.output.with_name(plan.output.name + ".joining.mp4")
    frames: list[dict] = []
    with av.open(str(tmp), mode="w") as writer:
        out_video = None
        offset = 0  # in the output stream's time base
        last_dts: int | None = None
        for seg_index, seg_out in enumerate(plan.outputs):
            with av.open(str(seg_out)) as reader:
                stream = reader.streams.video[0]
                if out_video is None:
                    out_video = writer.add_stream_from_template(stream)
                    out_video.time_base = stream.time_base
                    audio = _add_audio(writer, original)
                packets = [p for p in reader.demux(stream) if p.dts is not None]
            first_pts = min(p.pts for p in packets)
            end_pts = max(p.pts + (p.duration or 0) for p in packets)
            shift = offset - first_pts if seg_index else 0
            for packet in packets:
                packet.pts += shift
                packet.dts += shift
                if last_dts is not None and packet.dts <= last_dts:
                    raise ValueError(f"non-monotonic dts at the start of {seg_out.name}")
                last_dts = packet.dts
                packet.stream = out_video
                writer.mux(packet)
            offset = end_pts + shift
            frames += _segment_frames(seg_out, len(frames), shift, seg_index)
        if audio is not None:
            _copy_audio(writer, audio, original)
    os.replace(tmp, plan.output)
    return _write_manifest(plan, original, frames)


def _add_audio(writer, original: Path):
    with av.open(str(original)) as reader:
        if not reader.streams.audio:
            return None
        return writer.add_stream_from_template(reader.streams.audio[0])


def _copy_audio(writer, out_audio, original: Path) -> None:
    with av.open(str(original)) as reader:
        stream = reader.streams.audio[0]
        for packet in reader.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = out_audio
            writer.mux(packet)


def _segment_frames(seg_out: Path, first_index: int, shift: int, seg_index: int) -> list[dict]:
    """The segment's frame records, renumbered into the joined file.

    Each segment had its own tracker, so its track ids restart at 1: in the joined
    manifest they become ``seg_index * TRACK_ID_STRIDE + id``, so one id never names two
    different people (the same person gets a new id at each cut).
    """
    doc = json.loads(manifest_path(seg_out).read_text())
    frames = doc.get("frames") or []
    for i, frame in enumerate(frames):
        frame["index"] = first_index + i
        frame["pts"] = frame["pts"] + shift
        for face in frame.get("faces", []):
            if face["track_id"] >= 0:
                face["track_id"] += seg_index * TRACK_ID_STRIDE
    return frames


def _write_manifest(plan: SegmentPlan, original: Path, frames: list[dict]) -> dict:
    """The first segment's manifest, made to describe the whole input and the joined output."""
    docs = [json.loads(manifest_path(o).read_text()) for o in plan.outputs]
    doc = docs[0]
    stats = {
        "frames_in": sum(d["stats"]["frames_in"] for d in docs),
        "frames_out": sum(d["stats"]["frames_out"] for d in docs),
        "dropped": sum(d["stats"]["dropped"] for d in docs),
        "faces": sum(d["stats"]["faces"] for d in docs),
        "faces_enhanced": sum(d["stats"]["faces_enhanced"] for d in docs),
        # Sum of segment times: the compute spent, not the wall time of a parallel run.
        "elapsed_s": round(sum(d["stats"]["elapsed_s"] for d in docs), 3),
    }
    stats["fps"] = round(stats["frames_out"] / stats["elapsed_s"], 2) if stats["elapsed_s"] else 0
    doc["stats"] = stats
    doc["status"] = "finished" if all(d["status"] == "finished" for d in docs) else "failed"
    doc["input"] = {
        **doc["input"],
        "name": original.name,
        "path": str(original.resolve()),
        "sha256": sha256_file(original),
    }
    doc["segments"] = [
        {
            "input": d["input"]["sha256"],
            "output": d["outputs"][0]["sha256"],
            "frames": len(d["frames"]),
        }
        for d in docs
    ]
    doc["outputs"] = [{"path": plan.output.name, "sha256": sha256_file(plan.output)}]
    doc["frames"] = frames
    path = manifest_path(plan.output)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)
    return doc
