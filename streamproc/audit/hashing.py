"""sha256 of files: model files are verified by it, inputs and outputs recorded by it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from streamproc.core.errors import ModelError


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".sha256")


def write_sidecar(model_path: Path) -> str:
    """Write ``<model>.sha256`` in sha256sum format and return the hex digest."""
    digest = sha256_file(model_path)
    sidecar_path(model_path).write_text(f"{digest}  {model_path.name}\n")
    return digest


def verify_sha256(model_path: Path, expected: str | None) -> str:
    """Check a model file against ``expected`` or, if not given, its sidecar.

    A model with neither is accepted (users' own files) and its digest is still returned
    for the manifest; a mismatch is always an error.
    """
    if not model_path.is_file():
        raise ModelError(f"model file not found: {model_path}")
    actual = sha256_file(model_path)
    if expected is None and sidecar_path(model_path).is_file():
        expected = sidecar_path(model_path).read_text().split()[0]
    if expected is not None and expected.lower() != actual:
        raise ModelError(
            f"model {model_path} fails its sha256 check (expected {expected[:12]}…, "
            f"got {actual[:12]}…); the file is corrupt or not the recorded model"
        )
    return actual
