"""YAML configs, --set overrides and the refusal of unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.core.errors import ConfigError
from train.config import TrainConfig, dump_config, load_config
from train.models import LITE_GENERATOR, SEED_GENERATOR

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize(
    ("name", "generator", "backbone"),
    [
        ("train_lite.yaml", LITE_GENERATOR, "efficientnet_lite0"),
        ("train_seed.yaml", SEED_GENERATOR, "vgg16"),
    ],
)
def test_shipped_configs_load(name: str, generator, backbone: str) -> None:
    cfg = load_config(CONFIGS / name)
    assert cfg.generator == generator
    assert cfg.loss.perceptual.backbone == backbone
    assert (cfg.optim.lr, cfg.optim.beta1, cfg.optim.beta2) == (2e-4, 0.5, 0.999)


def test_overrides_are_coerced_to_field_types() -> None:
    cfg = load_config(
        CONFIGS / "train_lite.yaml",
        ["optim.lr=1e-4", "degrade.face_px=[20, 30]", "init_from=null", "epochs=3",
         "generator.input_size=64", "loss.perceptual.backbone=none", "max_minutes=2"],
    )  # fmt: skip
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.degrade.face_px == (20.0, 30.0)
    assert cfg.init_from is None and cfg.epochs == 3 and cfg.max_minutes == 2.0
    assert cfg.generator.input_size == 64


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.learning_rate=1", "unknown config key optim.learning_rate"),
        ("foo=1", "unknown config key foo"),
        ("epochs=many", "epochs must be int, got 'many'"),
        ("epochs=2.5", "epochs must be int"),
        ("degrade.face_px=[16]", "degrade.face_px needs a list of 2 values"),
        ("generator.input_size=100", "multiple of 32"),
        ("loss.perceptual.backbone=resnet", "backbone"),
        ("data.kind=lfw", "data.kind"),
        ("noequals", "--set expects key=value"),
    ],
)
def test_bad_overrides_are_one_clear_error(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as info:
        load_config(CONFIGS / "train_lite.yaml", [override])
    assert "\n" not in str(info.value)


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS / "train_seed.yaml", ["seed=5"])
    dump_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg
    assert load_config(None, base=cfg.to_dict()) == cfg
    assert TrainConfig().generator == LITE_GENERATOR


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Path("/nonexistent/train.yaml"))
