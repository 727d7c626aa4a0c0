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
        assert sum(recall[lane]["passes"].values()) == 5  # every_n_frames=2 of 10 frames
    assert section["detector_ms_per_frame"]["ort"] > 0
    startup = section["startup"]
    assert startup["rc"] == 0 and 0 < startup["startup_s"] < 60
    assert startup["torch"] is False and startup["ultralytics"] is False
    printed = capsys.readouterr().out
    assert "e2e" in printed and "recall vs exhaustive" in printed and "start-up" in printed
