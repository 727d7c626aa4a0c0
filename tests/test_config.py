"""Config: YAML in, frozen dataclasses out, overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.core.config import Config, ConfigError, dump_config, load_config

CONFIGS = Path(__file__).parent.parent / "configs"


def test_default_yaml_documents_the_real_defaults():
    assert load_config(CONFIGS / "default.yaml") == Config()


RUNTIME_CONFIGS = sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith("train"))


@pytest.mark.parametrize("path", RUNTIME_CONFIGS, ids=lambda p: p.name)
def test_shipped_runtime_configs_load(path):
    assert isinstance(load_config(path), Config)


def test_dump_then_load_round_trips(tmp_path):
    config = load_config(
        None,
        [
            "enhance.mode=both",
            "enhance.providers=[cuda, cpu]",
            "detect.every_n_frames=3",
            "composite.marker=false",
        ],
    )
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config
    assert config.enhance.providers == ("cuda", "cpu")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("nosuch.key=1", "unknown config key nosuch"),
        ("detect.conf=1.5", "detect.conf must be in (0, 1)"),
        ("detect.imgsz=500", "multiple of 32"),
        ("pipeline.queue_frames=0", "pipeline.queue_frames must be > 0"),
        ("enhance.missing_provider=ignore", "missing_provider"),
        ("track.box_smoothing=1", "box_smoothing"),
        ("justtext", "--set expects key=value"),
        ("detect=3", "detect must be a mapping"),
        ("detect.imgsz=320.5", "detect.imgsz must be int"),
        ("detect.imgsz=true", "detect.imgsz must be int"),
        ("enhance.max_wait_ms=soon", "enhance.max_wait_ms must be float"),
        ("composite.marker=maybe", "composite.marker must be bool"),
        ("detect.imgsz.deeper=1", "detect.imgsz must be int"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(None, [override])


def test_numbers_written_the_way_people_write_them():
    # PyYAML reads 2e1 as text; a number field still takes it.
    config = load_config(None, ["enhance.max_wait_ms=2e1", "detect.imgsz=320.0"])
    assert config.enhance.max_wait_ms == 20.0 and config.detect.imgsz == 320
    assert isinstance(config.detect.imgsz, int)


def test_config_is_frozen():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().detect.conf = 0.9  # type: ignore[misc]
