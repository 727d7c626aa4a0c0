"""``streamproc verify MANIFEST``: re-run a recorded job on the CPU and compare outputs.

The pipeline is deterministic on the CPU for file input (same input, models and config
give the same bytes), so a manifest can be checked long after the fact: the input and
models must still hash as recorded, and the re-run must reproduce the output's sha256. If
it does not, the first differing frame is reported (an output made on a GPU differs from
a CPU re-run by rounding; the report says by how much).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from streamproc.config import config_from_dict
from streamproc.enhance.model_meta import sha256_file
from streamproc.errors import InputError
from streamproc.runner import Job


@dataclass(frozen=True)
class VerifyResult:
    identical: bool
    frames_compared: int
    first_diff_frame: int | None
    max_abs_diff: int
    message: str


def _load(manifest_path: Path) -> dict:
    try:
        doc = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise InputError(f"manifest not found: {manifest_path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{manifest_path.name} is not a streamproc manifest (bad JSON)") from None
    if not isinstance(doc, dict) or "input" not in doc or "config" not in doc:
        raise InputError(f"{manifest_path.name} is not a streamproc manifest")
    return doc


def _check_hash(path: Path, expected: str | None, what: str) -> None:
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    if expected and sha256_file(path) != expected:
        raise InputError(f"{what} {path.name} has changed since the run (sha256 differs)")


def _first_difference(a: Path, b: Path) -> tuple[int, int | None, int]:
    with av.open(str(a)) as ca, av.open(str(b)) as cb:
        frames = 0
        for fa, fb in zip(ca.decode(video=0), cb.decode(video=0), strict=False):
            xa, xb = fa.to_ndarray(format="rgb24"), fb.to_ndarray(format="rgb24")
            if xa.shape != xb.shape:
                return frames + 1, frames, 255
            diff = int(np.abs(xa.astype(np.int16) - xb).max())
            frames += 1
            if diff:
                return frames, frames - 1, diff
    return frames, None, 0


def verify(manifest_path: Path, input_override: Path | None = None) -> VerifyResult:
    doc = _load(manifest_path)
    recorded = doc["input"]
    if recorded.get("live"):
        raise InputError("a live stream cannot be re-run; verify works on file input only")
    if input_override is None and not recorded.get("path"):
        raise InputError(f"{manifest_path.name} records no input path; pass --input PATH")
    input_path = input_override or Path(recorded["path"])
    _check_hash(input_path, recorded.get("sha256"), "input")
    outputs = doc.get("outputs") or []
    if not outputs:
        raise InputError(f"{manifest_path.name} records no output to verify")
    output_path = manifest_path.with_name(outputs[0]["path"])
    config_dict = doc["config"]
    generator = (doc.get("models") or {}).get("generator")
    if generator:
        _check_hash(Path(generator["path"]), generator["sha256"], "generator model")
        config_dict["enhance"]["model"] = generator["path"]
    config_dict["enhance"]["providers"] = ["cpu"]
    config_dict["detect"]["device"] = "cpu"
    config = config_from_dict(config_dict)
    with tempfile.TemporaryDirectory(prefix="streamproc-verify-") as tmp:
        rerun = Path(tmp) / output_path.name
        job = Job(str(input_path), config, rerun)
        job.start()
        job.finish("finished")
        same = sha256_file(rerun) == outputs[0]["sha256"]
        if same:
            frames = job.pipeline.stats.frames_out
            return VerifyResult(
                True,
                frames,
                None,
                0,
                f"verified: re-run reproduces {output_path.name} exactly "
                f"({frames} frames, sha256 {outputs[0]['sha256'][:12]}…)",
            )
        if not output_path.is_file():
            return VerifyResult(
                False,
                0,
                None,
                0,
                f"re-run differs from the recorded sha256 and {output_path.name}"
                " is not here to compare frames",
            )
        frames, first, diff = _first_difference(output_path, rerun)
    if first is None:
        message = (
            f"pixels of all {frames} frames match but the file bytes differ "
            "(container or encoder settings changed)"
        )
    else:
        message = f"differs from the re-run at frame {first} (max abs pixel difference {diff})"
    return VerifyResult(False, frames, first, diff, message)
