"""Shared test data, made once per session: clips with real faces and a tiny generator."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")
sys.path.insert(0, str(Path(__file__).parent))

from synth import write_clip  # noqa: E402

# Small, fast settings for pipeline tests: detection at 320 px is enough for 60-90 px faces.
FAST = ["detect.imgsz=320"]


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """320x240, 24 frames at 12 fps, two real faces drifting right, AAC audio."""
    path = tmp_path_factory.mktemp("clips") / "faces.mp4"
    boxes = write_clip(path, n_frames=24, n_faces=2, face_px=70, audio=True)
    return path, boxes


@pytest.fixture(scope="session")
def silent_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "silent.mp4"
    write_clip(path, n_frames=12, n_faces=1, face_px=80, audio=False)
    return path


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough (40 s of video) to interrupt mid-run on a fast machine."""
    path = tmp_path_factory.mktemp("clips") / "long.mp4"
    write_clip(path, n_frames=480, n_faces=1, face_px=80, audio=True)
    return path


@pytest.fixture(scope="session")
def tiny_generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from export.onnx import export_tiny_generator

    return export_tiny_generator(tmp_path_factory.mktemp("models") / "tiny.onnx", seed=0)
