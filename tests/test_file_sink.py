"""The file sink's encoder settings: what a live camera's recording is encoded with."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from streamproc.core.config import OutputConfig
from streamproc.core.packet import FramePacket
from streamproc.io.sinks.file import FileSink, pipeline_encoder_threads
from streamproc.io.sources import SourceInfo


def _x264_options(path: Path) -> dict[str, str]:
    """The options x264 wrote into the stream (its SEI: "options: cabac=1 ref=3 ...")."""
    found = re.search(rb"options: ([^\x00]+)", path.read_bytes())
    assert found, "no x264 SEI in the output"
    pairs = (item.split("=", 1) for item in found.group(1).decode().split() if "=" in item)
    return dict(pairs)


def _write(path: Path, config: OutputConfig, live: bool) -> dict[str, str]:
    fps = Fraction(30)
    info = SourceInfo(f"cam-{live}", 64, 48, fps, 1 / fps, 0, False, None)
    sink = FileSink(path, info, config, live)
    rng = np.random.default_rng(0)
    for index in range(5):
        image = rng.integers(0, 256, (48, 64, 3), np.uint8)
        sink.write(FramePacket(index, index, 1 / fps, image, 0.0))
    sink.close()
    return _x264_options(path)


@pytest.mark.parametrize(
    ("live", "overrides", "subme"),
    [
        (False, {}, "2"),  # a file: veryfast
        (True, {}, "0"),  # a live camera: ultrafast
        (True, {"live_preset": "veryfast"}, "2"),
        (False, {"preset": "ultrafast"}, "0"),
    ],
)
def test_live_inputs_encode_with_the_live_preset(tmp_path, live, overrides, subme):
    options = _write(tmp_path / "out.mp4", OutputConfig(**overrides), live)
    assert options["subme"] == subme  # x264's subpixel refinement: 0 ultrafast, 2 veryfast
    # Live: no lookahead or B-frames, each frame muxed as it is encoded (ultrafast has
    # neither anyway; x264 leaves rc_lookahead out when it is 0).
    no_delay = live or subme == "0"
    assert (options.get("rc_lookahead", "0") == "0") == no_delay
    assert (options["bframes"] == "0") == no_delay


@pytest.mark.parametrize(
    ("cpus", "size", "configured", "expected"),
    [
        (2, (768, 432), 0, 1),  # two busy cores: x264's frame threads cost more than they give
        (1, (640, 480), 0, 1),
        (2, (960, 540), 0, 0),  # 0.52 MP: the encoder decides (measured no faster with one)
        (2, (1280, 720), 0, 0),  # one thread was 3-5 % slower end to end
        (4, (768, 432), 0, 0),  # spare cores: the encoder decides
        (2, (768, 432), 3, 3),  # a number in the config is used as given
    ],
)
def test_pipeline_encoder_threads(monkeypatch, cpus, size, configured, expected):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    threads = pipeline_encoder_threads(OutputConfig(encoder_threads=configured), *size)
    assert threads == expected


@pytest.mark.parametrize(("overrides", "threads"), [({}, "1"), ({"encoder_threads": 2}, "2")])
def test_a_run_on_two_cpus_encodes_small_frames_with_one_thread(
    tmp_path, monkeypatch, overrides, threads
):
    """What the encoder was given, read back from the stream x264 wrote."""
    from synth import write_clip

    from streamproc.core.config import config_from_dict
    from streamproc.run.job import Job

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    clip, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(clip, n_frames=6, width=768, height=432, n_faces=0)
    job = Job([str(clip)], config_from_dict({"output": overrides}), out)
    job.start()
    job.pipeline.join()
    (summary,) = job.finish("finished")
    assert summary["frames_out"] == 6
    assert _x264_options(out)["threads"] == threads
