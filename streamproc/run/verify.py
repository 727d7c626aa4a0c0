"""``streamproc verify MANIFEST``: re-run a recorded job on the CPU and compare.

For a file input, two checks. (1) The output file still has the sha256 the manifest
recorded (nothing was altered since). (2) Re-running the job (same input, models and
config; input and models must still hash as recorded) gives the same frames: each frame's
pixels, as handed to the encoder, are hashed in the manifest, so the comparison is exact
and does not depend on the video encoder (x264's output bytes are not reproducible run to
run). The first frame that differs is reported. A live recording cannot be re-run: its
outputs are checked against their manifests, and a rotated one as a chain (no part
missing or altered).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from streamproc.audit.hashing import sha256_file
from streamproc.audit.manifest import manifest_path as manifest_of
from streamproc.core.config import config_from_dict
from streamproc.core.errors import InputError
from streamproc.io.sinks.rotating import part_path
from streamproc.run.job import Job


@dataclass(frozen=True)
class VerifyResult:
    verified: bool
    output_intact: bool
    frames_compared: int
    first_diff_frame: int | None
    message: str


def _load(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"manifest not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{path.name} is not a streamproc manifest (bad JSON)") from None
    if not isinstance(doc, dict) or "input" not in doc or "config" not in doc:
        raise InputError(f"{path.name} is not a streamproc manifest")
    return doc


def _check_hash(path: Path, expected: str | None, what: str) -> None:
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    if expected and sha256_file(path) != expected:
        raise InputError(f"{what} {path.name} has changed since the run (sha256 differs)")


def _rerun_config(doc: dict) -> dict:
    config = doc["config"]
    generator = (doc.get("models") or {}).get("generator")
    if generator:
        _check_hash(Path(generator["path"]), generator["sha256"], "generator model")
        config["enhance"]["model"] = generator["path"]
    # The run's small-face generator (or none): with `model` set explicitly, '' would be none.
    small = (doc.get("models") or {}).get("small_generator")
    if small:
        _check_hash(Path(small["path"]), small["sha256"], "small-face generator model")
    config["enhance"]["small_model"] = small["path"] if small else "none"
    config["enhance"]["providers"] = ["cpu"]
    config["detect"]["device"] = "cpu"
    detector = (doc.get("models") or {}).get("detector") or {}
    if detector.get("precision") in ("fp32", "int8"):  # not what "auto" picks here
        config["detect"]["precision"] = detector["precision"]
    # A check serves no preview: the run it checks may still hold output.mjpeg_port.
    config.setdefault("output", {})["mjpeg_port"] = 0
    config["output"]["rtsp_push"] = ""  # a re-run pushes nothing to the recorder
    return config


def _first_mismatch(recorded: list[str | None], rerun: list[str | None]) -> int | None:
    for index, (a, b) in enumerate(zip(recorded, rerun, strict=False)):
        if a != b:
            return index
    return None if len(recorded) == len(rerun) else min(len(recorded), len(rerun))


LIVE_NOTE = "a live stream cannot be re-run, so frames were not re-computed"
MAX_PART_GAP = 50  # how far past a missing part to look for later ones


def verify_live(manifest_path: Path, doc: dict) -> VerifyResult:
    """A live recording cannot be re-run: check its files against their manifests instead,
    and for a rotated recording the whole chain of parts (none missing, none altered)."""
    if "part" in doc:
        return _verify_chain(manifest_path.with_name(doc["part"]["first"]))
    outputs = doc.get("outputs") or []
    if not outputs:
        raise InputError(f"{manifest_path.name} records no output to verify")
    output = manifest_path.with_name(outputs[0]["path"])
    intact = output.is_file() and sha256_file(output) == outputs[0]["sha256"]
    state = "intact" if intact else "ALTERED or missing (sha256 differs from the manifest)"
    prefix = "verified" if intact else "NOT verified"
    return VerifyResult(intact, intact, 0, None, f"{prefix}: {output.name} is {state}; {LIVE_NOTE}")


def _verify_chain(first: Path) -> VerifyResult:
    problems: list[str] = []
    previous_sha: str | None = None
    part = 0
    while True:
        path = part_path(first, part)
        manifest = manifest_of(path)
        if not manifest.is_file():
            ahead = range(part + 1, part + MAX_PART_GAP)
            if not any(manifest_of(part_path(first, k)).is_file() for k in ahead):
                break
            problems.append(f"part {part} ({path.name}) is missing")
            previous_sha, part = None, part + 1
            continue
        problems += _part_problems(part, path, _load(manifest), previous_sha)
        previous_sha = sha256_file(manifest)
        part += 1
    if problems:
        return VerifyResult(False, False, 0, None, f"NOT verified: {'; '.join(problems)}")
    message = f"verified: {part} parts, each intact and chained; {LIVE_NOTE}"
    return VerifyResult(True, True, 0, None, message)


def _part_problems(part: int, path: Path, doc: dict, previous_sha: str | None) -> list[str]:
    problems = []
    if previous_sha is not None and doc["part"]["previous_manifest_sha256"] != previous_sha:
        problems.append(f"part {part} does not follow the previous part's manifest")
    outputs = doc.get("outputs") or []
    if not outputs or not path.is_file() or sha256_file(path) != outputs[0]["sha256"]:
        problems.append(f"part {part} ({path.name}) is ALTERED or missing")
    return problems


def verify(manifest_path: Path, input_override: Path | None = None) -> VerifyResult:
    doc = _load(manifest_path)
    recorded = doc["input"]
    if recorded.get("live"):
        return verify_live(manifest_path, doc)
    if input_override is None and not recorded.get("path"):
        raise InputError(f"{manifest_path.name} records no input path; pass --input PATH")
    input_path = input_override or Path(recorded["path"])
    _check_hash(input_path, recorded.get("sha256"), "input")
    outputs = doc.get("outputs") or []
    if not outputs:
        raise InputError(f"{manifest_path.name} records no output to verify")
    output_path = manifest_path.with_name(outputs[0]["path"])
    intact = output_path.is_file() and sha256_file(output_path) == outputs[0]["sha256"]
    config = config_from_dict(_rerun_config(doc))
    with tempfile.TemporaryDirectory(prefix="streamproc-verify-") as tmp:
        rerun_out = Path(tmp) / output_path.name
        job = Job([str(input_path)], config, rerun_out)
        job.start()
        job.pipeline.join()  # the whole re-run; finish() only bounds the shutdown
        job.finish("finished")
        rerun_doc = json.loads(manifest_of(rerun_out).read_text())
    want = [f.get("frame_sha256") for f in doc.get("frames", [])]
    got = [f.get("frame_sha256") for f in rerun_doc["frames"]]
    first = _first_mismatch(want, got)
    state = "intact" if intact else "ALTERED or missing (sha256 differs from the manifest)"
    if first is None:
        message = f"re-run reproduces all {len(got)} frames exactly; {output_path.name} is {state}"
    else:
        message = (
            f"re-run differs from the recorded frames at frame {first} "
            f"({len(want)} recorded, {len(got)} re-run); {output_path.name} is {state}"
        )
    verified = first is None and intact
    prefix = "verified" if verified else "NOT verified"
    return VerifyResult(verified, intact, len(got), first, f"{prefix}: {message}")
