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
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from streamproc import __version__
from streamproc.enhance.model_meta import sha256_file
from streamproc.packet import FramePacket

NOTICE = (
    "Faces in this output were altered by a machine-learning model and/or image filters. "
    "Enhanced faces are machine-generated guesses, not evidence of identity."
)
PACKAGES = ("av", "numpy", "onnxruntime-gpu", "opencv-python", "torch", "ultralytics")


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


@dataclass
class ManifestRecorder:
    """Collects per-frame records from the writer thread; writes the JSON at the end."""

    frames: list[dict[str, Any]] = field(default_factory=list)

    def record(self, packet: FramePacket) -> None:
        pixels = np.ascontiguousarray(packet.image)
        self.frames.append(
            {
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
                    }
                    for face in packet.faces
                ],
            }
        )

    def write(self, path: Path, header: dict[str, Any], outputs: list[Path]) -> None:
        doc = {
            "notice": NOTICE,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": versions(),
            **header,
            "outputs": [{"path": p.name, "sha256": sha256_file(p)} for p in outputs if p.is_file()],
            "frames": self.frames,
        }
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)
