"""Rebuilding a training checkpoint from an exported generator (its batch norms folded into
the convolutions by the exporter) and fine-tuning it at another input size."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from rich.console import Console
from synth import write_faces

from export.onnx import export_generator
from export.onnx import load_generator as export_load_generator
from streamproc.core.errors import ModelError
from train import from_onnx
from train.checkpoint import load_checkpoint, load_generator, save_checkpoint
from train.config import load_config
from train.loop import Trainer, to_model_range

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
QUIET = Console(quiet=True)


def tiny_config(faces: Path, run_dir: Path, *extra: str):
    return load_config(
        CONFIGS / "train_lite.yaml",
        [
            f"run_dir={run_dir}", f"data.train_path={faces / 'train'}",
            f"data.val_path={faces / 'val'}",
            "generator.base_channels=4", "generator.depth=3", "generator.input_size=32",
            "discriminator.base_channels=4", "discriminator.layers=2",
            "loss.perceptual.backbone=none", "data.batch_size=4", "data.repeat=2",
            "data.num_workers=0", "device=cpu", "amp=none", "degrade.face_px=[8, 16]",
            "sample_count=2", "checkpoint_every=1", "max_minutes=null", "epochs=1", *extra,
        ],
    )  # fmt: skip


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(faces root, a trained checkpoint, its export). After one epoch the norms get
    seeded scales and shifts far from (1, 0), and running statistics of the whole training
    set (what a long run converges to), so that a rebuild must recover all of them."""
    root = tmp_path_factory.mktemp("from_onnx")
    write_faces(root / "faces" / "train", 6, size_px=40)
    write_faces(root / "faces" / "val", 2, size_px=40)
    cfg = tiny_config(root / "faces", root / "run")
    trainer = Trainer(cfg, console=QUIET)
    result = trainer.fit()
    state = load_checkpoint(result.last_checkpoint)
    model, _ = load_generator(result.last_checkpoint)
    rng = torch.Generator().manual_seed(0)
    train_set = trainer.train_set  # indexed: its __getitem__ wraps, so iterating never ends
    x = to_model_range(torch.stack([train_set[i]["input"] for i in range(len(train_set))]), "cpu")
    with torch.no_grad():
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            norm.weight.copy_(0.5 + 1.5 * torch.rand(norm.weight.shape, generator=rng))
            norm.bias.copy_(torch.rand(norm.bias.shape, generator=rng) - 0.5)
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over the pass below
        model.train()(x)
    state["generator"] = model.state_dict()
    ckpt = save_checkpoint(root / "shifted.pt", state)
    model, config, info = export_load_generator(ckpt)
    onnx_path = export_generator(model, config, root / "tiny.onnx", provenance=info).path
    return root / "faces", ckpt, onnx_path


def test_the_rebuilt_generator_is_the_exported_one(exported, tmp_path):
    faces, ckpt, onnx_path = exported
    ops = [n.op_type for n in onnx.load(str(onnx_path)).graph.node]
    original, _ = load_generator(ckpt)
    norms = sum(1 for m in original.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert 0 < ops.count("BatchNormalization") < norms  # the exporter folded some of them

    cfg = tiny_config(faces, tmp_path / "ft", "generator.input_size=16")
    state = from_onnx.rebuild_checkpoint(onnx_path, cfg)
    assert state["generator_config"]["input_size"] == 16
    rebuilt_info = state["data_provenance"]["rebuilt_from_onnx"]
    assert rebuilt_info["parity_max_abs"] <= from_onnx.PARITY_MAX
    path = save_checkpoint(tmp_path / "rebuilt.pt", state)
    rebuilt, _ = load_generator(path)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert float((rebuilt(x) - original(x)).abs().max()) < 1e-5


def test_train_mode_starts_from_the_exported_function(exported, tmp_path):
    """Training normalises by the batch: the measured running statistics make the rebuilt
    network's train-mode output match the original's, where a plain unfolding would not."""
    faces, ckpt, onnx_path = exported
    cfg = tiny_config(faces, tmp_path / "ft")
    state = from_onnx.rebuild_checkpoint(onnx_path, cfg)
    rebuilt, _ = load_generator(save_checkpoint(tmp_path / "rebuilt.pt", state))
    original, _ = load_generator(ckpt)
    plain, _ = from_onnx.rebuild_generator(onnx.load(str(onnx_path)), cfg.generator)
    train_set = Trainer(cfg, console=QUIET).train_set
    x = to_model_range(torch.stack([train_set[i]["input"] for i in range(0, 12, 2)]), "cpu")
    with torch.no_grad():
        want = original.train()(x)
        measured = float((rebuilt.train()(x) - want).abs().mean())
        unmeasured = float((plain.train()(x) - want).abs().mean())
    assert measured < 0.01 and measured < 0.1 * unmeasured, (measured, unmeasured)


def test_a_rebuilt_checkpoint_fine_tunes_at_another_input_size(exported, tmp_path):
    faces, _, onnx_path = exported
    cfg = tiny_config(faces, tmp_path / "ft", "generator.input_size=16")
    path = save_checkpoint(tmp_path / "rebuilt.pt", from_onnx.rebuild_checkpoint(onnx_path, cfg))
    tuned = tiny_config(faces, tmp_path / "ft", "generator.input_size=16", f"init_from={path}")
    result = Trainer(tuned, console=QUIET).fit()
    ckpt = load_checkpoint(result.last_checkpoint)
    assert ckpt["generator_config"]["input_size"] == 16
    assert ckpt["data_provenance"]["init_from"]["data_provenance"]["rebuilt_from_onnx"]


def test_another_architecture_is_refused_in_one_line(exported, tmp_path, capsys):
    faces, _, onnx_path = exported
    with pytest.raises(ModelError, match="the config's generator"):
        from_onnx.rebuild_checkpoint(onnx_path, tiny_config(faces, tmp_path, "generator.depth=4"))
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text((CONFIGS / "train_lite.yaml").read_text())
    code = from_onnx.main([str(tmp_path / "missing.onnx"), "--config", str(cfg_file), "-o", "x"])
    assert code == 2 and capsys.readouterr().err.startswith("error: ")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf at all")
    code = from_onnx.main([str(garbage), "--config", str(cfg_file), "-o", "x"])
    assert code == 2 and "cannot load ONNX model garbage.onnx" in capsys.readouterr().err
