"""Training loop: learning, checkpoints, resume, freezing, interrupts and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from rich.console import Console
from synth import write_faces

from train import cli
from train.checkpoint import REQUIRED_KEYS, load_checkpoint, load_generator
from train.config import load_config
from train.loop import Trainer, to_model_range

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
QUIET = Console(quiet=True)


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faces")
    write_faces(root / "train", 6, size_px=40)
    write_faces(root / "val", 2, size_px=40)
    return root


def tiny_args(faces: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        f"run_dir={run_dir}", f"data.train_path={faces / 'train'}",
        f"data.val_path={faces / 'val'}",
        "generator.base_channels=4", "generator.depth=3", "generator.input_size=32",
        "discriminator.base_channels=4", "discriminator.layers=2", "loss.perceptual.backbone=none",
        "data.batch_size=4", "data.repeat=2", "data.num_workers=0", "device=cpu", "amp=none",
        "degrade.face_px=[8, 16]", "degrade.p_h264=0.2", "sample_count=2", "checkpoint_every=1",
        "max_minutes=null", "epochs=2", *extra,
    ]  # fmt: skip


def tiny_config(faces: Path, run_dir: Path, *extra: str):
    return load_config(CONFIGS / "train_lite.yaml", tiny_args(faces, run_dir, *extra))


@pytest.mark.parametrize(
    ("gan_weight", "norm"), [(0.0, "batch"), (1.0, "batch"), (1.0, "instance")]
)
def test_a_few_steps_lower_the_l1_loss(faces: Path, tmp_path: Path, gan_weight: float, norm: str):
    cfg = tiny_config(faces, tmp_path, f"loss.gan_weight={gan_weight}", f"generator.norm={norm}",
                      "optim.lr=1e-3")  # fmt: skip
    trainer = Trainer(cfg, console=QUIET)
    batch = next(iter(trainer._loader(trainer.train_set, 0, shuffle=True)))
    inp, target = (to_model_range(batch[k], trainer.device) for k in ("input", "target"))
    trainer._set_train_mode()
    losses = [trainer.train_step(inp, target)["g_l1"] for _ in range(15)]
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])


def test_fit_writes_a_visible_run_and_a_loadable_checkpoint(faces: Path, tmp_path: Path):
    cfg = tiny_config(faces, tmp_path / "run")
    trainer = Trainer(cfg, console=QUIET)
    result = trainer.fit()
    assert result.epochs_done == 2 and not result.interrupted
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(np.isfinite(r["val_psnr"]) and 0 < r["val_ssim"] <= 1 for r in rows)
    grid = cv2.imread(str(tmp_path / "run" / "samples" / "epoch_0002.png"))
    assert grid.shape == (2 * 128, 3 * 128, 3)  # 2 samples x (input | output | target)
    assert cv2.imread(str(tmp_path / "run" / "loss_curves.png")).shape[2] == 3
    assert load_config(tmp_path / "run" / "config.yaml") == cfg

    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert best["epoch"] == max(rows, key=lambda r: r["val_psnr"])["epoch"]
    ckpt = load_checkpoint(result.last_checkpoint)
    assert set(REQUIRED_KEYS) <= ckpt.keys() and ckpt["epoch"] == 2
    assert ckpt["generator_config"] == cfg.generator.to_dict()
    assert ckpt["data_provenance"]["n_train_images"] == 6
    generator, _ = load_generator(result.last_checkpoint)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(generator(x), trainer.generator.eval()(x))


def test_resume_matches_the_uninterrupted_run(faces: Path, tmp_path: Path):
    straight = Trainer(tiny_config(faces, tmp_path / "a", "epochs=3"), console=QUIET)
    straight.fit()
    first = Trainer(tiny_config(faces, tmp_path / "b", "epochs=1"), console=QUIET).fit()
    assert first.epochs_done == 1
    resumed_cfg = load_config(
        None, ["epochs=3"], base=load_checkpoint(first.last_checkpoint)["train_config"]
    )
    resumed = Trainer(resumed_cfg, resume=first.last_checkpoint, console=QUIET)
    assert resumed.start_epoch == 1
    result = resumed.fit()
    assert result.epochs_done == 3 and [r["epoch"] for r in result.history] == [1, 2, 3]
    assert resumed.sched_g.last_epoch == straight.sched_g.last_epoch == 3
    for (name, a), b in zip(straight.generator.state_dict().items(),
                            resumed.generator.state_dict().values(), strict=True):  # fmt: skip
        assert torch.equal(a, b), name


@pytest.mark.parametrize("levels", [1, 2])
def test_frozen_levels_do_not_change(faces: Path, tmp_path: Path, levels: int):
    base = Trainer(tiny_config(faces, tmp_path / "base", "epochs=1"), console=QUIET).fit()
    cfg = tiny_config(faces, tmp_path / "ft", f"init_from={base.last_checkpoint}",
                      f"freeze_levels={levels}", "epochs=1")  # fmt: skip
    trainer = Trainer(cfg, console=QUIET)
    before = {k: v.clone() for m in trainer.frozen for k, v in m.state_dict().items()}
    frozen_ids = {id(p) for m in trainer.frozen for p in m.parameters()}
    others = {
        n: p.clone() for n, p in trainer.generator.named_parameters() if id(p) not in frozen_ids
    }
    trainer.fit()
    after = {k: v for m in trainer.frozen for k, v in m.state_dict().items()}
    assert before and all(torch.equal(before[k], after[k]) for k in before)
    current = dict(trainer.generator.named_parameters())
    assert any(not torch.equal(v, current[n]) for n, v in others.items())
    assert (
        load_checkpoint(trainer.run_dir / "checkpoints" / "last.pt")["data_provenance"][
            "init_from"
        ]["epoch"]
        == 1
    )


def test_interrupt_saves_completed_epochs_and_cli_exits_130(faces, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = Trainer.train_step

    def flaky(self, inp, target):
        calls["n"] += 1
        if calls["n"] == 5:  # 3 steps per epoch: interrupted inside epoch 2
            raise KeyboardInterrupt
        return original(self, inp, target)

    monkeypatch.setattr(Trainer, "train_step", flaky)
    args = ["--config", str(CONFIGS / "train_lite.yaml")]
    for item in tiny_args(faces, tmp_path / "run"):
        args += ["--set", item]
    assert cli.main(args) == 130
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 1 and ckpt["interrupted"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "data.train_path=/nonexistent/faces"], "not a directory"),
        (["--set", "loss.perceptual.backbone=vgg16",
          "--set", "loss.perceptual.weights=/no/vgg16.pth"], "VGG16 weights not found"),
        (["--set", "optim.momentum=0.9"], "unknown config key"),
        (["--resume", "/nonexistent/last.pt"], "checkpoint not found"),
    ],
)  # fmt: skip
def test_cli_user_errors_are_one_line_exit_2(faces, tmp_path, capsys, extra, message):
    args = ["--config", str(CONFIGS / "train_lite.yaml")]
    for item in tiny_args(faces, tmp_path / "run"):
        args += ["--set", item]
    assert cli.main(args + extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_cli_trains_and_resumes_from_the_checkpoint_alone(faces, tmp_path, capsys):
    args = ["--config", str(CONFIGS / "train_lite.yaml")]
    for item in tiny_args(faces, tmp_path / "run", "epochs=1"):
        args += ["--set", item]
    assert cli.main(args) == 0
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    assert cli.main(["--resume", str(last), "--set", "epochs=2"]) == 0
    assert load_checkpoint(last)["epoch"] == 2
    assert "trained 2 epochs" in capsys.readouterr().out


def test_fused_inputs_are_validated_apart_and_validate_scores_the_start(faces, tmp_path, capsys):
    """data.fused_fraction: validation reports PSNR on fused and single inputs apart; the
    CLI's --validate prints the starting generator's scores without training."""
    run = tmp_path / "run"
    write_faces(tmp_path / "val", 8, size_px=40, seed=3)
    extra = ("epochs=1", "data.fused_fraction=0.5", "data.burst_frames=3",
             f"data.val_path={tmp_path / 'val'}")  # fmt: skip
    result = Trainer(tiny_config(faces, run, *extra), console=QUIET).fit()
    row = result.history[-1]
    assert {"val_psnr_fused", "val_psnr_single"} <= set(row)
    args = ["--config", str(CONFIGS / "train_lite.yaml"), "--validate"]
    init = f"init_from={run / 'checkpoints' / 'best.pt'}"
    for item in tiny_args(faces, tmp_path / "other", *extra, init):
        args += ["--set", item]
    assert cli.main(args) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["val_psnr"] == pytest.approx(row["val_psnr"], abs=1e-4)
    assert not (tmp_path / "other").exists()  # nothing trained, nothing written
