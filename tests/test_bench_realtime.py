"""``streamproc-bench --realtime-only`` on a tiny clip: every figure of issue 15 is there."""

from __future__ import annotations

import json
import math

from synth import write_clip

from benchmarks import bench


def test_realtime_section_reports_every_figure(tmp_path, capsys) -> None:
    clip = tmp_path / "tiny.mp4"
    write_clip(clip, n_frames=10, width=320, height=240, n_faces=2, face_px=70)
    out = tmp_path / "results"
    assert bench.main(["--realtime-only", "--clip", str(clip), "--out", str(out)]) == 0
    section = json.loads((out / "results.json").read_text())["realtime"]
    row = section["clips"]["tiny"]
    assert row["clip"]["frames"] == 10 and row["e2e"]["frames"] == 10
    assert math.isfinite(row["e2e_over_ceiling"]) and row["e2e_over_ceiling"] > 0
    assert row["live"]["frames"] + row["live"]["dropped"] == 10
    assert 0 <= row["live"]["dropped_pct"] <= 100 and row["live"]["latency_ms_p95"] > 0
    recall = row["recall"]
    assert recall["frames"] == 10 and recall["exhaustive_faces"] >= 10
    for lane in ("default", "no_gate"):
        assert 0.9 <= recall[lane]["recall"] <= 1.0
        assert sum(recall[lane]["passes"].values()) == 4  # every 3rd of 10 frames (no tiny faces)
    assert section["detector_ms_per_frame"]["ort"] > 0
    startup = section["startup"]
    assert startup["rc"] == 0 and 0 < startup["startup_s"] < 60
    assert startup["torch"] is False and startup["ultralytics"] is False
    printed = capsys.readouterr().out
    assert "e2e" in printed and "recall vs exhaustive" in printed and "start-up" in printed


def test_score_counts_small_misses_where_they_happen_and_carried_boxes_that_match_nothing():
    import numpy as np

    from benchmarks.realtime import _score

    small, large = [10, 10, 30, 40], [100, 100, 160, 180]  # 30 px and 80 px tall
    truth = [np.array([small, large], float)] * 3 + [np.zeros((0, 4))]
    got = [
        np.array([small, large], float),  # detection frame: both found
        np.array([large], float),  # between: the small face missed
        np.array([large], float),  # detection frame: the small face missed
        np.array([large], float),  # between: a carried box where nothing is any more
    ]
    score = _score(truth, got, [True, False, True, False])
    assert score["recall"] == 4 / 6 and score["recall_faces_le_34px"] == 1 / 3
    assert score["faces_le_34px"] == {
        "found": 1,
        "total": 3,
        "missed_detection_frames": 1,
        "missed_between": 1,
    }
    assert score["output_boxes"] == {
        "boxes": 5,
        "unmatched": 1,
        "carried": 2,
        "carried_unmatched": 1,
    }
    assert score["precision"] == 4 / 5 and score["carried_precision"] == 1 / 2
