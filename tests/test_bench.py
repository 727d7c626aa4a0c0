"""streamproc-bench end to end on a tiny clip with the tests' tiny generator."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from synth import write_clip

from benchmarks import bench


@pytest.fixture(scope="module")
def bench_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    work = tmp_path_factory.mktemp("bench")
    clip = work / "tiny.mp4"
    write_clip(clip, n_frames=10, width=320, height=240, n_faces=2, face_px=70)
    out = work / "results"
    argv = [
        "--clip", str(clip), "--out", str(out), "--generator-config", "tiny",
        "--imgsz", "320", "--batches", "1,2", "--modes", "classical,generator",
        "--min-time-s", "0.05",
    ]  # fmt: skip
    assert bench.main(argv) == 0
    return json.loads((out / "results.json").read_text()), out


def _positive_finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_every_figure_is_positive_and_finite(bench_results: tuple[dict, Path]) -> None:
    results, _ = bench_results
    figures = results["figures"]
    expected = [
        "decode_fps[tiny-240p]",
        "decode_encode_fps[tiny-240p]",
        "detect_ms_per_frame[imgsz=320]",
        "classical_ms_per_face",
        "composite_ms_per_face",
        "generator_pre_post_ms_per_face",
        "ort_fp32_faces_per_s[b=1]",
        "ort_fp32_faces_per_s[b=2]",
        "torch_b1_faces_per_s",
        "live_fps",
        "live_latency_ms_p50",
        "live_latency_ms_p95",
        "peak_rss_mb",
    ] + [
        f"e2e_fps[tiny-240p|{mode}|{output}]"
        for mode in ("classical", "generator")
        for output in ("null", "file")
    ]
    assert sorted(figures) == sorted(expected)
    bad = {k: v for k, v in figures.items() if not _positive_finite(v)}
    assert not bad
    ratios = results["ratios"]
    assert set(ratios) == {"e2e_over_ceiling[tiny-240p|generator]", "ort_batched_over_torch_b1"}
    assert all(_positive_finite(v) for v in ratios.values())


def test_runs_process_every_frame_and_faces(bench_results: tuple[dict, Path]) -> None:
    results, _ = bench_results
    for row in results["end_to_end"]:
        assert row["frames"] == 10 and row["dropped"] == 0
        assert row["faces_per_frame"] > 0 and row["faces_enhanced"] > 0
        depths = row["max_queue_depths"]
        assert depths and all(isinstance(v, int) and v >= 0 for v in depths.values())
    assert results["live"]["frames"] + results["live"]["dropped"] == 10
    assert results["per_face"]["crops_from"] == "clip"


def test_targets_and_outputs(bench_results: tuple[dict, Path]) -> None:
    results, out = bench_results
    met = {t["target"]: t["met"] for t in results["targets"]}
    assert len(met) == 5
    assert isinstance(met["ORT batched / torch eager batch-1 faces/s >= 3"], bool)
    # Only the ORT/torch target applies to a 240p CPU run: no 720p clip, no GPU.
    assert [k for k, v in met.items() if v is not None] == [
        "ORT batched / torch eager batch-1 faces/s >= 3"
    ]
    markdown = (out / "results.md").read_text()
    assert "| ort_batched_over_torch_b1 |" in markdown
    for plot in ("fps_vs_faces.png", "faces_per_s_vs_batch.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
