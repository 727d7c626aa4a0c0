"""export/: checkpoint -> ONNX, parity with torch, metadata contract, CLI refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import export.onnx as export_onnx
from export.cli import main
from export.onnx import export_tiny_generator
from streamproc.audit import hashing
from streamproc.core.errors import ModelError
from streamproc.vision.enhance import model_meta as meta
from train.models import GeneratorConfig, define_G

CONFIG = GeneratorConfig(base_channels=4, depth=3, input_size=32)
EPOCH = 3


def _checkpoint(path: Path, **overrides: object) -> Path:
    model = define_G(CONFIG, seed=0)
    ckpt = {
        "generator_config": CONFIG.to_dict(),
        "generator": model.state_dict(),
        "epoch": EPOCH,
        "train_config": {"lr": 2e-4},
        "data_provenance": {"dataset": "synthetic"},
        "optimizer_G": {"ignored": True},
        **overrides,
    }
    torch.save({k: v for k, v in ckpt.items() if v is not None}, path)
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "gen.pt")


@pytest.fixture(scope="module", params=["fp32", "fp16"])
def exported(request: pytest.FixtureRequest, ckpt: Path) -> tuple[Path, str]:
    out = ckpt.parent / f"gen-{request.param}.onnx"
    argv = [str(ckpt), "-o", str(out)] + (["--fp16"] if request.param == "fp16" else [])
    assert main(argv) == 0
    return out, request.param


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _max_diff(path: Path, batch: np.ndarray) -> float:
    """ORT output of the exported file vs a torch model rebuilt independently from the seed."""
    session = _session(path)
    dtype = np.float16 if session.get_inputs()[0].type == "tensor(float16)" else np.float32
    actual = session.run([meta.OUTPUT_NAME], {meta.INPUT_NAME: batch.astype(dtype)})[0]
    with torch.inference_mode():
        expected = define_G(CONFIG, seed=0).eval()(torch.from_numpy(batch)).numpy()
    assert actual.shape == expected.shape
    return float(np.abs(actual.astype(np.float32) - expected).max())


def _props(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("scale", [1, 2])
def test_ort_matches_torch(exported: tuple[Path, str], batch: int, scale: int) -> None:
    path, precision = exported
    size = CONFIG.input_size * scale
    x = np.random.default_rng(batch).uniform(-1, 1, (batch, 3, size, size)).astype(np.float32)
    assert _max_diff(path, x) <= export_onnx.TOLERANCE[precision]


def test_metadata_round_trip(exported: tuple[Path, str], ckpt: Path) -> None:
    path, precision = exported
    parsed = meta.parse_meta(_props(path), path)
    assert parsed.generator == CONFIG
    assert (parsed.input_size_px, parsed.generator.stride) == (32, CONFIG.stride)
    assert parsed.precision == precision and parsed.dynamic_spatial
    assert parsed.provenance["checkpoint_sha256"] == hashing.sha256_file(ckpt)
    assert parsed.provenance["epoch"] == EPOCH
    assert parsed.provenance["data_provenance"] == {"dataset": "synthetic"}
    assert parsed.provenance["exporter"].startswith("streamproc-export ")
    diffs = parsed.parity["max_abs_diff"]
    assert {"noise_b1", "faces_b7", "crops_b7", "faces_b2_64px"} <= set(diffs)
    assert max(diffs.values()) <= parsed.parity["tolerance"] == export_onnx.TOLERANCE[precision]
    onnx.checker.check_model(str(path), full_check=True)


def test_io_signature(exported: tuple[Path, str]) -> None:
    path, precision = exported
    session = _session(path)
    elem = "tensor(float16)" if precision == "fp16" else "tensor(float)"
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == (meta.INPUT_NAME, meta.OUTPUT_NAME)
    assert inp.type == out.type == elem
    assert inp.shape[1] == 3 and all(isinstance(d, str) for d in inp.shape[0:1] + inp.shape[2:])


def test_sidecar_matches_file(exported: tuple[Path, str]) -> None:
    path, _ = exported
    digest, name = hashing.sidecar_path(path).read_text().split()
    assert (digest, name) == (hashing.sha256_file(path), path.name)
    assert hashing.verify_sha256(path, None) == digest


def test_inspect_prints_metadata(
    exported: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, precision = exported
    capsys.readouterr()
    assert main(["--inspect", str(path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["metadata"][meta.KEY_PRECISION] == precision
    assert shown["metadata"][meta.KEY_GENERATOR_CONFIG] == CONFIG.to_dict()
    assert shown["sha256"] == hashing.sha256_file(path)


def test_no_check_does_not_claim_dynamic_spatial(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "unchecked.onnx"
    assert main([str(ckpt), "-o", str(out), "--no-check"]) == 0
    parsed = meta.parse_meta(_props(out), out)
    assert not parsed.dynamic_spatial and parsed.parity == {"checked": False}


def test_export_tiny_generator(tmp_path: Path) -> None:
    path = export_tiny_generator(tmp_path / "tiny.onnx", seed=0)
    parsed = meta.parse_meta(_props(path), path)
    assert parsed.generator == CONFIG
    x = np.zeros((2, 3, 32, 32), np.float32)
    assert _max_diff(path, x) <= export_onnx.TOLERANCE["fp32"]


def test_failed_parity_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_onnx, "TOLERANCE", {"fp32": -1.0, "fp16": -1.0})
    out = tmp_path / "bad.onnx"
    with pytest.raises(ModelError, match="parity failed"):
        export_tiny_generator(out)
    assert list(tmp_path.iterdir()) == []


def _write_bad(kind: str, path: Path) -> Path:
    if kind == "no_config":
        return _checkpoint(path, generator_config=None)
    if kind == "wrong_config":
        return _checkpoint(path, generator_config={**CONFIG.to_dict(), "base_channels": 8})
    if kind == "bad_config":
        return _checkpoint(path, generator_config={**CONFIG.to_dict(), "colour": "blue"})
    if kind == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "not_a_dict":
        torch.save(torch.zeros(3), path)
    return path


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("no_config", "has no 'generator_config'"),
        ("wrong_config", "weights do not match its generator_config"),
        ("bad_config", "invalid generator_config"),
        ("random_bytes", "corrupt or not a torch checkpoint"),
        ("empty", "corrupt or not a torch checkpoint"),
        ("not_a_dict", "expected a dict"),
        ("missing", "checkpoint not found"),
    ],
)
def test_bad_checkpoint_is_refused(
    kind: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = _write_bad(kind, tmp_path / "bad.pt")
    out = tmp_path / "out.onnx"
    assert main([str(ckpt), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("streamproc-export: error: ")
    assert fragment in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "a checkpoint is required"),
        (["--opset", "x", "a.pt"], "invalid int value"),
        (["a.pt", "--inspect", "m.onnx"], "not both"),
        (["--inspect", "missing.onnx"], "model file not found"),
    ],
)
def test_bad_command_line(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
