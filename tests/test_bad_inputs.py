"""The bad-input corpus: each case ends in exit 2 with one clear line, or, for media that
is only unusual or damaged, in exit 0 with what could be decoded. Never a traceback."""

from __future__ import annotations

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

from streamproc.cli import main

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

    from streamproc.enhance import model_meta as meta

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
        meta.KEY_GENERATOR_CONFIG: "{}",
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


def test_full_disk(tmp_path, capsys, long_clip):
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
        code, err = run([str(long_clip), "-o", str(mount / "o.mp4")], capsys)
        assert code == 2, err
        assert "disk full" in err or "No space left" in err, err
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
