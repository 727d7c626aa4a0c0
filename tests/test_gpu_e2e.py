"""The lent-GPU end-to-end benchmark runs here on the CPU as it will there on CUDA."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from benchmarks import gpu_e2e  # noqa: E402


def test_gpu_e2e_on_the_cpu_writes_both_generators_runs(tmp_path):
    argv = ["--out", str(tmp_path), "--providers", "cpu", "--sizes", "432p", "--seconds", "1"]
    assert gpu_e2e.main([*argv, "--rounds", "1", "--detector-threads", "1"]) == 0
    doc = json.loads((tmp_path / "gpu_e2e.json").read_text())
    rows = doc["clips"]["432p"]
    assert set(rows) == {"ceiling", "generator torch cpu", "generator onnxruntime cpu"}
    for label in ("generator torch cpu", "generator onnxruntime cpu"):
        (run,) = rows[label]
        assert run["frames"] == 30 and run["faces_enhanced"] > 0
        assert run["e2e_over_ceiling"] > 0 and run["faces_enhanced_per_s"] > 0
