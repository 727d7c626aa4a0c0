"""enhance.runtime=torch: the generator ONNX run as torch ops gives ONNX Runtime's pixels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FAST

from streamproc.core.config import EnhanceConfig, load_config
from streamproc.core.errors import ConfigError, ModelError
from streamproc.vision.enhance.onnx import GeneratorRunner
from streamproc.vision.enhance.stage import SHIPPED_MODEL, EnhanceStage
from streamproc.vision.enhance.torch_graph import TorchGeneratorRunner, torch_device

# fp32 sums in another order: ORT and torch agree to ~1e-6 on these graphs.
TOLERANCE = 1e-4


def _batch(n: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (n, 3, size, size)).astype(np.float32)


def _fp16_generator(path: Path) -> Path:
    from export.onnx import TINY_GENERATOR, export_generator
    from train.models import define_G

    model = define_G(TINY_GENERATOR, seed=0)
    provenance = {"source": "define_G(seed=0), untrained", "epoch": None}
    return export_generator(model, TINY_GENERATOR, path, fp16=True, provenance=provenance).path


@pytest.mark.parametrize("model", ["tiny", "tiny-fp16", "shipped"])
def test_torch_runner_matches_onnxruntime(model, tiny_generator, tmp_path):
    path = {"tiny": tiny_generator, "shipped": SHIPPED_MODEL}.get(model)
    path = path or _fp16_generator(tmp_path / "fp16.onnx")
    config = EnhanceConfig(mode="generator", model=str(path), max_batch=3)
    ort_runner, torch_runner = GeneratorRunner(path, config), TorchGeneratorRunner(path, config)
    assert torch_runner.model_sha256 == ort_runner.model_sha256
    assert torch_runner.input_size_px == ort_runner.input_size_px
    assert torch_runner.providers == ["torch:cpu"]
    x = _batch(5, torch_runner.input_size_px)  # 5 with max_batch 3: two chunks
    expected = ort_runner(x.astype(ort_runner.input_dtype)).astype(np.float32)
    actual = torch_runner(x)  # fp16 weights, computed in fp32 on the CPU
    assert actual.shape == expected.shape and actual.dtype == np.float32
    tolerance = 2e-2 if model == "tiny-fp16" else TOLERANCE
    assert float(np.max(np.abs(actual - expected))) < tolerance


def test_stage_picks_the_runtime(tiny_generator):
    base = {"mode": "generator", "model": str(tiny_generator)}
    assert isinstance(EnhanceStage(EnhanceConfig(**base)).generator, GeneratorRunner)
    stage = EnhanceStage(EnhanceConfig(**base, runtime="torch"))
    assert isinstance(stage.generator, TorchGeneratorRunner)
    with pytest.raises(ConfigError, match="enhance.runtime must be onnxruntime or torch"):
        EnhanceConfig(**base, runtime="tensorflow")


def test_gpu_asked_for_and_absent(monkeypatch):
    """As with an absent ORT provider: an error by default, the CPU when told to warn."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="torch sees no CUDA device"):
        torch_device(EnhanceConfig(providers=("cuda", "cpu"), runtime="torch"))
    warn = EnhanceConfig(providers=("cuda", "cpu"), runtime="torch", missing_provider="warn")
    assert torch_device(warn) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    gpu = EnhanceConfig(providers=("cuda",), runtime="torch", device_id=1)
    assert torch_device(gpu) == torch.device("cuda:1")


def test_run_with_torch_runtime_writes_the_same_frames(face_clip, tiny_generator, tmp_path):
    """The whole pipeline through the CLI, once per runtime: the enhanced frames agree."""
    from synth import read_frames

    clip, _ = face_clip
    outputs = {}
    for runtime in ("onnxruntime", "torch"):
        out = tmp_path / f"{runtime}.mp4"
        sets = [*FAST, "enhance.mode=generator", f"enhance.model={tiny_generator}"]
        sets += [f"enhance.runtime={runtime}", "output.crf=0"]
        cmd = [sys.executable, "-m", "streamproc", "run", str(clip), "-o", str(out), "--quiet"]
        cmd += [a for kv in sets for a in ("--set", kv)]
        subprocess.run(cmd, check=True, timeout=300)
        outputs[runtime], _, _ = read_frames(out)
    assert len(outputs["torch"]) == len(outputs["onnxruntime"]) > 0
    diff = max(
        float(np.max(np.abs(a.astype(int) - b.astype(int))))
        for a, b in zip(outputs["torch"], outputs["onnxruntime"], strict=True)
    )
    assert diff <= 2  # the same pixels, up to a rounding at the uint8 boundary
    config = load_config(None, [f"enhance.model={tiny_generator}", "enhance.runtime=torch"])
    assert config.enhance.runtime == "torch"


def test_gpu_bench_runs_on_the_cpu(tiny_generator, tmp_path):
    """The script prepared for the lent GPU machine works (here on the CPU)."""
    import json

    from benchmarks.gpu_generator import main

    out = tmp_path / "gpu.json"
    args = ["--model", str(tiny_generator), "--providers", "cpu", "--batches", "1,4"]
    assert main([*args, "--seconds", "0.2", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["device"] == "cpu" and [r["batch"] for r in doc["rows"]] == [1, 4]
    assert all(r["faces_per_s"] > 0 for r in doc["rows"])
