"""The bad-input corpus: each case ends in exit 2 with one clear line, or, for media that
is only unusual or damaged, in exit 0 with what could be decoded. Never a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import FAST
from synth import read_frames, write_clip

from streamproc.run.cli import main

SETS = [a for s in FAST for a in ("--set", s)]


def write_raw(
    path: Path,
    width: int,
    height: int,
    n: int = 4,
    codec: str = "ffv1",
    pix_fmt: str = "yuv420p",
    pts_ms: list[int] | None = None,
) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=12)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if pts_ms is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i in range(n):
            rgb = np.random.default_rng(i).integers(0, 255, (height, width, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def run(args: list[str], capsys) -> tuple[int, str]:
    code = main(["run", *args, "--quiet", *SETS])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return code, err


def expect_error(args: list[str], capsys, message: str) -> None:
    code, err = run(args, capsys)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("streamproc: error: "), err
    assert message in err, err


# --- refused with exit 2 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("zero.mp4", b"", "zero.mp4"),
        ("text.mp4", b"hello\n" * 100, "not a video file"),
        ("random.mkv", os.urandom(5000), "random.mkv"),
        ("fake.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "cannot read image fake.jpg"),
        ("empty.png", b"", "cannot read image empty.png"),
    ],
)
def test_unreadable_files(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    expect_error([str(path), "-o", str(tmp_path / "o.mp4")], capsys, message)


def test_mp4_cut_before_its_index(tmp_path, capsys, face_clip):
    cut = tmp_path / "cut.mp4"
    data = face_clip[0].read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # moov atom at the end is lost
    expect_error([str(cut), "-o", str(tmp_path / "o.mp4")], capsys, "cut.mp4")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rtsp://", "cannot open rtsp://"),
        ("rtsp://user:pw@256.1.1.1:554/cam", "cannot open rtsp://***@256.1.1.1"),
        ("http://127.0.0.1:9/none.mjpg", "cannot open http://127.0.0.1:9"),
        ("/dev/video97", "cannot open /dev/video97"),
        ("definitely/not/here.mp4", "input not found"),
    ],
)
def test_bad_sources(capsys, spec, message):
    expect_error([spec, "--set", "source.open_timeout_s=2"], capsys, message)


def test_output_must_not_overwrite_input(tmp_path, capsys, silent_clip):
    copy = tmp_path / "in.mp4"
    copy.write_bytes(silent_clip.read_bytes())
    expect_error([str(copy), "-o", str(copy)], capsys, "would overwrite the input")
    assert copy.read_bytes() == silent_clip.read_bytes()


def test_output_is_a_folder(tmp_path, capsys, silent_clip):
    (tmp_path / "dir.mp4").mkdir()
    expect_error([str(silent_clip), "-o", str(tmp_path / "dir.mp4")], capsys, "is a folder")


def test_output_under_proc(capsys, silent_clip):
    expect_error([str(silent_clip), "-o", "/proc/streamproc/o.mp4"], capsys, "cannot create")


def test_wrong_layout_generator(tmp_path, capsys, silent_clip):
    import onnx
    from onnx import TensorProto, helper

    from streamproc.vision.enhance import model_meta as meta

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 1, 32, 32])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 1, 32, 32])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = {
        meta.KEY_FORMAT: meta.FORMAT,
        meta.KEY_NORMALIZATION: meta.NORMALIZATION,
        meta.KEY_INPUT_SIZE: "32",
        meta.KEY_GENERATOR_CONFIG: '{"input_size": 32, "depth": 5}',
    }
    onnx.helper.set_model_props(model, props)
    path = tmp_path / "gray.onnx"
    onnx.save(model, path)
    expect_error(
        [str(silent_clip), "--set", "enhance.mode=generator", "--set", f"enhance.model={path}"],
        capsys,
        "is not (N, 3, 32, 32)",
    )


def test_corrupt_detector(tmp_path, capsys, silent_clip):
    bad = tmp_path / "face.onnx"
    bad.write_bytes(os.urandom(10_000))
    expect_error(
        [str(silent_clip), "--set", f"detect.model={bad}"],
        capsys,
        "cannot load face detector face.onnx",
    )


def test_missing_config_file(capsys, silent_clip):
    expect_error(
        [str(silent_clip), "--config", "/nonexistent.yaml"], capsys, "config file not found"
    )


def test_config_not_a_mapping(tmp_path, capsys, silent_clip):
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- a\n- b\n")
    expect_error([str(silent_clip), "--config", str(cfg)], capsys, "must hold a mapping")


@pytest.mark.parametrize("full_at_start", [False, True], ids=["fills-up", "already-full"])
@pytest.mark.parametrize("n_inputs", [1, 2])
def test_full_disk(tmp_path, capsys, long_clip, silent_clip, n_inputs, full_at_start):
    """One line that says the disk is full, exit 2: one input or several alike, whether the
    video fills the disk or the config file beside it finds it full already."""
    mount = tmp_path / "full"
    mount.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        if full_at_start:
            with contextlib.suppress(OSError), (mount / "filler").open("wb") as filler:
                filler.write(bytes(1 << 20))
        if n_inputs == 1:
            code, err = run([str(long_clip), "-o", str(mount / "o.mp4")], capsys)
        else:
            code, err = run([str(long_clip), str(silent_clip), "-o", str(mount)], capsys)
        assert code == 2, err
        last = err.splitlines()[-1]
        assert last.startswith("streamproc: error: disk full while writing "), err
        assert str(mount) in last, err
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# --- unusual but valid, or damaged: processed, exit 0 --------------------------------------


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "size"),
    [
        ("ffv1", "gray", (64, 48)),
        ("ffv1", "yuv420p10le", (64, 48)),
        ("ffv1", "rgb48le", (64, 48)),
        ("ffv1", "yuv444p", (33, 17)),  # odd size: padded to even, nothing cropped
        ("ffv1", "yuv444p", (1, 1)),  # 1x1: padded up to the encoder's minimum
        ("mjpeg", "yuvj422p", (64, 48)),
        ("png", "rgba", (64, 48)),
    ],
)
def test_unusual_pixel_formats_and_sizes(tmp_path, capsys, codec, pix_fmt, size):
    suffix = ".mov" if codec == "png" else ".mkv"
    src = write_raw(tmp_path / f"in_{pix_fmt}{suffix}", *size, codec=codec, pix_fmt=pix_fmt)
    out = tmp_path / "o.mp4"
    code, err = run([str(src), "-o", str(out)], capsys)
    assert code == 0, err
    frames, _, _ = read_frames(out)
    assert len(frames) == 4
    assert frames[0].shape[0] >= size[1] and frames[0].shape[1] >= size[0]


def test_8k_frames(tmp_path, capsys):
    src = write_raw(tmp_path / "8k.mkv", 7680, 4320, n=2, codec="ffv1", pix_fmt="yuv420p")
    out = tmp_path / "o.mp4"
    code, err = run([str(src), "-o", str(out)], capsys)
    assert code == 0, err
    frames, _, _ = read_frames(out)
    assert [f.shape for f in frames] == [(4320, 7680, 3)] * 2


def test_variable_frame_rate_keeps_timestamps(tmp_path, capsys):
    pts_ms = [0, 40, 200, 210, 500, 1000]
    src = write_raw(tmp_path / "vfr.mkv", 64, 48, n=6, pts_ms=pts_ms)
    out = tmp_path / "o.mkv"
    code, err = run([str(src), "-o", str(out)], capsys)
    assert code == 0, err
    _, pts, info = read_frames(out)
    assert [round(p * info["time_base"] * 1000) for p in pts] == pts_ms


def test_rotation_metadata_is_applied(tmp_path, capsys):
    import shutil

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg CLI needed to write a display-rotation tag")
    plain = tmp_path / "plain.mp4"
    write_clip(plain, n_frames=4, width=320, height=240)
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(plain),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            str(rotated),
        ],
        check=True,
    )
    out = tmp_path / "o.mp4"
    code, err = run([str(rotated), "-o", str(out), "--set", "enhance.mode=off"], capsys)
    assert code == 0, err
    frames, _, _ = read_frames(out)
    assert frames[0].shape == (320, 240, 3)  # upright: width and height swapped


def test_bit_flipped_mp4_processes_what_decodes(tmp_path, capsys, face_clip):
    data = bytearray(face_clip[0].read_bytes())
    rng = np.random.default_rng(0)
    for pos in rng.integers(len(data) // 4, len(data) * 3 // 4, 40):
        data[pos] ^= 0xFF
    damaged = tmp_path / "flipped.mp4"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "o.mp4"
    code, err = run([str(damaged), "-o", str(out)], capsys)
    assert code == 0, err
    frames, _, _ = read_frames(out)
    assert 0 < len(frames) <= 24
    manifest = json.loads((tmp_path / "o.mp4.manifest.json").read_text())
    assert manifest["status"] == "finished"


def test_truncated_stream_file_processes_what_decodes(tmp_path, capsys):
    ts = tmp_path / "cam.ts"
    write_clip(ts, n_frames=24)
    data = ts.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "o.mp4"
    code, err = run([str(cut), "-o", str(out)], capsys)
    assert code == 0, err
    frames, _, _ = read_frames(out)
    assert 0 < len(frames) < 24


def test_image_named_like_a_video(tmp_path, capsys):
    import cv2
    from synth import scene_frame

    fake = tmp_path / "actually_png.mp4"
    fake.write_bytes(cv2.imencode(".png", scene_frame(0, 320, 240, 1, 80)[0])[1].tobytes())
    out = tmp_path / "o.mp4"
    code, err = run([str(fake), "-o", str(out)], capsys)
    assert code == 0, err
    frames, _, _ = read_frames(out)
    assert len(frames) == 1


# --- issue #17: refused with exit 2 before anything is written or loaded ------------------


@pytest.fixture()
def no_models(monkeypatch):
    """Fails the test if a run gets as far as loading the face detector."""
    import streamproc.run.job

    def refuse(*_args, **_kwargs):
        raise AssertionError("a model was loaded before the bad input was refused")

    monkeypatch.setattr(streamproc.run.job, "FaceDetector", refuse)


def test_hard_link_of_the_input_is_refused(tmp_path, capsys, silent_clip, no_models):
    footage = tmp_path / "a.mp4"
    footage.write_bytes(silent_clip.read_bytes())
    os.link(footage, tmp_path / "b.mp4")
    expect_error([str(footage), "-o", str(tmp_path / "b.mp4")], capsys, "would overwrite the input")
    # Not even with --overwrite.
    expect_error(
        [str(footage), "-o", str(tmp_path / "b.mp4"), "--overwrite"],
        capsys,
        "would overwrite the input",
    )
    assert footage.read_bytes() == silent_clip.read_bytes()


def test_symlink_to_the_input_is_refused(tmp_path, capsys, silent_clip, no_models):
    (tmp_path / "link.mp4").symlink_to(silent_clip)
    expect_error(
        [str(silent_clip), "-o", str(tmp_path / "link.mp4")], capsys, "overwrite the input"
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("output.crf=99", "output.crf must be in [0, 51], got 99"),
        ("output.crf=-5", "output.crf must be in [0, 51], got -5"),
        ("composite.feather=5", "composite.feather must be in [0, 0.5], got 5.0"),
        ("output.keyframe_s=0", "output.keyframe_s must be > 0, got 0.0"),
        ("enhance.crop_margin=-0.1", "enhance.crop_margin must be in [0, 2], got -0.1"),
        ("output.preset=ludicrous", "output.preset must be one of ultrafast"),
        ("source.reconnect_max_s=0.1", "source.reconnect_max_s must be >= 0.5"),
        ("enhance.low_light_luma=300", "enhance.low_light_luma must be in [0, 255]"),
    ],
)
def test_out_of_range_settings(capsys, silent_clip, no_models, setting, message):
    expect_error([str(silent_clip), "--set", setting], capsys, message)


def _float_keys() -> list[str]:
    import dataclasses
    import typing

    from streamproc.core.config import Config

    keys = []
    for section in dataclasses.fields(Config):
        cls = typing.get_type_hints(Config)[section.name]
        hints = typing.get_type_hints(cls)
        keys += [
            f"{section.name}.{f.name}" for f in dataclasses.fields(cls) if hints[f.name] is float
        ]
    return keys


@pytest.mark.parametrize("value", [".nan", "nan", ".inf", "-.inf", "inf"])
@pytest.mark.parametrize("key", _float_keys())
def test_every_float_setting_must_be_finite(capsys, silent_clip, no_models, key, value):
    expect_error([str(silent_clip), "--set", f"{key}={value}"], capsys, f"{key} must be a finite")


def test_float_keys_are_all_range_checked():
    """Built directly (not from YAML), every float field still refuses NaN and infinity."""
    import dataclasses

    from streamproc.core.config import Config, ConfigError

    for key in _float_keys():
        section, name = key.split(".")
        cls = type(getattr(Config(), section))
        for bad in (float("nan"), float("inf"), float("-inf")):
            with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
                cls(**{name: bad})
        assert dataclasses.is_dataclass(cls)


def test_yaml_infinity_in_an_int_setting(tmp_path, capsys, silent_clip, no_models):
    cfg = tmp_path / "inf.yaml"
    cfg.write_text("output:\n  crf: .inf\n")
    expect_error([str(silent_clip), "--config", str(cfg)], capsys, "output.crf must be a finite")


@pytest.mark.parametrize(
    ("output", "setting", "message"),
    [
        ("x.webm", None, "cannot write x.webm with output.codec=libx264"),
        ("x.gif", None, "cannot write x.gif with output.codec=libx264"),
        ("x.mp4", "output.codec=nosuch", "output.codec 'nosuch': no such video encoder"),
        ("x.mp4", "output.codec=aac", "output.codec 'aac' encodes audio, not video"),
    ],
)
def test_output_format_and_codec(
    tmp_path, capsys, silent_clip, no_models, output, setting, message
):
    extra = ["--set", setting] if setting else []
    expect_error([str(silent_clip), "-o", str(tmp_path / output), *extra], capsys, message)
    assert not (tmp_path / output).exists()


def test_existing_output_is_refused_without_overwrite(tmp_path, capsys, silent_clip, no_models):
    out = tmp_path / "first.mp4"
    out.write_bytes(b"the first run's output")
    expect_error([str(silent_clip), "-o", str(out)], capsys, "already exists (add --overwrite")
    assert out.read_bytes() == b"the first run's output"


def test_existing_image_output_is_refused(tmp_path, capsys, no_models):
    import cv2
    from synth import scene_frame

    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), scene_frame(0, 64, 48, 0, 10)[0])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"earlier")
    expect_error([str(folder), "-o", str(tmp_path / "out")], capsys, "out/a.png already exists")


@pytest.mark.parametrize("name", ["x.mp4", "x.tiff"])
def test_folder_of_images_to_a_file_name(tmp_path, capsys, no_models, name):
    import cv2
    from synth import scene_frame

    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), scene_frame(0, 64, 48, 0, 10)[0])
    expect_error([str(folder), "-o", str(tmp_path / name)], capsys, "-o must name a folder")
    assert not (tmp_path / name).exists()


def test_single_image_to_a_video_name(tmp_path, capsys, no_models):
    import cv2
    from synth import scene_frame

    image = tmp_path / "a.png"
    cv2.imwrite(str(image), scene_frame(0, 64, 48, 0, 10)[0])
    expect_error([str(image), "-o", str(tmp_path / "x.mp4")], capsys, "the output is an image")
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("key", ["detect.model", "enhance.model"])
def test_model_path_that_is_a_folder(tmp_path, capsys, silent_clip, no_models, key):
    expect_error(
        [str(silent_clip), "--set", f"{key}={tmp_path}"], capsys, f"{key} {tmp_path} is a folder"
    )


def test_inputs_list_with_a_non_text_entry(tmp_path, capsys, no_models):
    listing = tmp_path / "cams.yaml"
    # A one-key mapping is ``name: input``; two keys are neither that nor an input.
    listing.write_text("- a.mp4\n- {url: rtsp://u:secret@cam/s, fps: 5}\n")
    code, err = run(["--inputs", str(listing)], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert "entry 2 must be an input (a path or URL as text)" in err
    assert "secret" not in err and "must be a YAML list" not in err


def test_raw_at_sign_in_a_password_is_masked(capsys):
    url = "rtsp://admin:p@ss:w%rd@127.0.0.1:9/s"
    code, err = run([url, "--set", "source.open_timeout_s=2"], capsys)
    assert code == 2, err
    assert "rtsp://***@127.0.0.1" in err, err
    assert "ss:w%rd" not in err and "admin" not in err, err


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["--frobnicate"], "(see streamproc --help)"),
        (["run", "--frob"], "(see streamproc run --help)"),
    ],
)
def test_help_hint_names_the_command_once(capsys, argv, hint):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith(hint), err
    assert "streamproc streamproc" not in err


def test_batch_without_the_scale_extra(tmp_path, capsys, silent_clip, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    code = main(["batch", str(silent_clip), "-o", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "install the 'scale' extra" in err, err
