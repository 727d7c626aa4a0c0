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
        ([], 2),  # detector + generator (enhance.mode auto)
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
