"""A worker's ModelCache: jobs after the first load no model, and give the same frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FAST

from streamproc.core.config import load_config
from streamproc.run.job import Job
from streamproc.run.models import ModelCache


def _run(clip: Path, output: Path, overrides: list[str], cache: ModelCache | None) -> list[str]:
    job = Job([str(clip)], load_config(None, overrides), output, model_cache=cache)
    job.start()
    job.finish("finished")
    doc = json.loads(Path(f"{output}.manifest.json").read_text())
    return [f["frame_sha256"] for f in doc["frames"]]


@pytest.mark.parametrize(
    ("overrides", "models"),
    [
        ([], 3),  # detector, generator and small-face generator (enhance.mode auto)
        (["enhance.mode=classical"], 1),  # no generator to load
    ],
)
def test_jobs_share_loaded_models_and_give_the_frames_of_fresh_ones(
    face_clip, tmp_path, overrides, models
):
    clip, _ = face_clip
    overrides = [*FAST, *overrides]
    fresh = _run(clip, tmp_path / "fresh.mp4", overrides, None)
    cache = ModelCache()
    try:
        first = _run(clip, tmp_path / "first.mp4", overrides, cache)
        assert cache.loads == models
        second = _run(clip, tmp_path / "second.mp4", overrides, cache)
        assert cache.loads == models  # nothing loaded again
        changed = _run(clip, tmp_path / "other.mp4", [*overrides, "detect.conf=0.5"], cache)
        assert cache.loads == models + 1  # another detect config: its own detector
    finally:
        cache.close()
    assert len(fresh) == 24 and first == fresh and second == fresh
    assert len(changed) == 24


def test_a_small_face_generator_is_loaded_once_and_named_in_the_manifest(
    face_clip, tiny_generator, tmp_path
):
    from streamproc.audit.hashing import sha256_file

    clip, _ = face_clip
    small = [f"enhance.small_model={tiny_generator}", "enhance.small_model_max_face_px=400"]
    overrides = [*FAST, *small]
    cache = ModelCache()
    try:
        first = _run(clip, tmp_path / "first.mp4", overrides, cache)
        assert cache.loads == 3  # detector, generator, small-face generator
        assert _run(clip, tmp_path / "second.mp4", overrides, cache) == first
        assert cache.loads == 3
    finally:
        cache.close()
    assert first != _run(clip, tmp_path / "main.mp4", FAST, None)  # the faces went to it
    models = json.loads(Path(f"{tmp_path / 'first.mp4'}.manifest.json").read_text())["models"]
    assert models["small_generator"]["sha256"] == sha256_file(tiny_generator)
    assert models["small_generator"]["max_face_px"] == 400
    assert models["generator"]["file"] == "face_lite.onnx"
