"""The JSON manifest written beside every output: what went in, what ran, what came out.

Enhanced faces are machine-generated guesses, not evidence. The manifest makes a run
auditable: hashes of input, output, models and the resolved config, software versions,
providers, the AI-enhanced marker setting, and every frame's face boxes and track ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from streamproc import __version__
from streamproc.audit.hashing import sha256_file
from streamproc.core.packet import FramePacket

NOTICE = (
    "Faces in this output were altered by a machine-learning model and/or image filters. "
    "Enhanced faces are machine-generated guesses, not evidence of identity."
)
PACKAGES = (
    "av",
    "numpy",
    "onnxruntime-gpu",
    "openvino",
    "opencv-python",
    "torch",
    "ultralytics",
)


def versions() -> dict[str, str]:
    found = {"streamproc": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def manifest_path(output: Path) -> Path:
    return output.with_name(output.name + ".manifest.json")


class ManifestRecorder:
    """Collects per-frame records from the writer thread; writes the JSON at the end.

    Records are spooled to an anonymous temporary file, not kept in memory: a camera
    recorded for weeks makes millions of them (the 10-minute soak showed the in-memory
    list as steady RSS growth). The final manifest streams them back in.
    """

    def __init__(self) -> None:
        # Lives as long as the recorder; close() (or garbage collection) deletes it.
        self._spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self.count = 0

    def record(self, packet: FramePacket) -> None:
        pixels = np.ascontiguousarray(packet.image)
        record = {
            "index": packet.index,
            "pts": packet.pts,
            # The frame as handed to the encoder: encoder-independent, so `verify` can
            # compare a re-run frame by frame even where encoders differ.
            "frame_sha256": hashlib.sha256(pixels.data).hexdigest()[:32],
            "faces": [
                {
                    "box": [round(float(v), 1) for v in face.box_xyxy],
                    "score": round(face.score, 3),
                    "track_id": face.track_id,
                    "enhanced": face.enhanced is not None,
                    "enhancer": face.enhancer or None,
                    "fused_frames": face.fused_frames,
                }
                for face in packet.faces
            ],
        }
        self._spool.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.count += 1

    def write(self, path: Path, header: dict[str, Any], outputs: list[Path]) -> None:
        doc = {
            "notice": NOTICE,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": versions(),
            **header,
            "outputs": [{"path": p.name, "sha256": sha256_file(p)} for p in outputs if p.is_file()],
        }
        head = json.dumps(doc, indent=1)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(head[:-2] + ',\n "frames": [')
            self._spool.seek(0)
            for n, line in enumerate(self._spool):
                out.write(("\n  " if n == 0 else ",\n  ") + line.rstrip("\n"))
            self._spool.seek(0, os.SEEK_END)
            out.write("\n ]\n}\n")
        os.replace(tmp, path)

    def close(self) -> None:
        self._spool.close()


def input_sha256(source: Any) -> str | None:
    """The input file's sha256, or of an image folder's names and contents; None if live."""
    path = source.info.path
    if path is None:
        return None
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in getattr(source, "files", []):
        digest.update(file.name.encode() + b"\0" + bytes.fromhex(sha256_file(file)))
    return digest.hexdigest()


def _generator_info(generator: Any) -> dict[str, Any]:
    return {
        "file": generator.model_path.name,
        "path": str(generator.model_path.resolve()),
        "sha256": generator.model_sha256,
        "providers": generator.providers,
        "provenance": generator.meta.provenance,
    }


def models_info(
    detector: Any, generator: Any, small_generator: Any = None, small_max_face_px: int = 0
) -> dict[str, Any]:
    """The models of a run, taken when they are loaded (stages drop them when closed).
    ``small_generator`` enhanced the generator's faces up to ``small_max_face_px`` tall."""
    return {
        # None: no detector ran (``--faces``: each image is the face).
        "detector": None
        if detector is None
        else {
            "file": detector.model_path.name,
            "sha256": detector.model_sha256,
            # ort | openvino | ultralytics: the same graph, boxes equal to < 1 px.
            "backend": getattr(detector, "backend", None),
            # fp32 | int8 (the copy built on that machine from the shipped detector).
            "precision": getattr(detector, "precision", None),
            "source_sha256": getattr(detector, "source_sha256", None),
        },
        "generator": None if generator is None else _generator_info(generator),
        "small_generator": None
        if small_generator is None
        else {**_generator_info(small_generator), "max_face_px": small_max_face_px},
    }


def run_header(
    status: str,
    error: BaseException | None,
    source: Any,
    models: dict[str, Any],
    config: Any,
    summary: dict[str, Any],
) -> dict[str, Any]:
    """What every manifest says about one input's run (single or multi-camera)."""
    from streamproc.core.config import config_to_dict, dump_config, redact_config

    config = redact_config(config)
    cfg_text = dump_config(config)
    return {
        "status": status,
        "error": str(error) if error is not None else None,
        "input": {
            "name": source.info.name,
            # Local paths only (needed by `streamproc verify`); URLs are never stored (a
            # file read over HTTP has none).
            "path": None if source.info.path is None else str(source.info.path.resolve()),
            "sha256": input_sha256(source),
            "live": source.live,
            "skipped_packets": source.info.skipped_packets,
            "events": source.info.events,
        },
        "models": models,
        "enhance_mode": config.enhance.mode,
        "faces_mode": config.detect.whole_image,  # each image a face crop, enhanced whole
        "ai_enhanced_marker": config.composite.marker,
        "config_sha256": hashlib.sha256(cfg_text.encode()).hexdigest(),
        "config": config_to_dict(config),
        "stats": summary,
    }


def write_interrupted(output: Path, spec: str, config: Any) -> Path:
    """The manifest of a run stopped (Ctrl-C/SIGTERM) before its pipeline started, while
    models were loading: status ``interrupted``, no frames, no output file. The named
    output still gets its record, so an operator sees the run was stopped, not lost."""
    from streamproc.core.config import config_to_dict, dump_config, redact_config
    from streamproc.core.urls import is_device, is_url, mask_url

    config = redact_config(config)
    local = not (is_url(spec) or is_device(spec))
    header = {
        "status": "interrupted",
        "error": "stopped before the first frame",
        "input": {
            "name": mask_url(spec),
            "path": str(Path(spec).resolve()) if local else None,
            "sha256": None,  # not hashed: a stop should be quick
            "live": not local,
        },
        "models": None,
        "enhance_mode": config.enhance.mode,
        "ai_enhanced_marker": config.composite.marker,
        "config_sha256": hashlib.sha256(dump_config(config).encode()).hexdigest(),
        "config": config_to_dict(config),
        "stats": {"frames_in": 0, "frames_out": 0},
    }
    path = manifest_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    recorder = ManifestRecorder()
    try:
        recorder.write(path, header, [])
    finally:
        recorder.close()
    return path
