"""Bad input: one clear line on stderr, exit 2, no traceback, nothing half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST, wait_for
from synth import read_frames

from streamproc.run.cli import main

SETS = [a for s in FAST for a in ("--set", s)]


def one_line_error(capsys: pytest.CaptureFixture, code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("streamproc: error: ")
    return lines[0]


def make_bad(tmp_path: Path, kind: str, good_clip: Path) -> Path:
    path = (
        tmp_path
        / {
            "zero": "empty.mp4",
            "text": "notes.mp4",
            "truncated_header": "cut.mp4",
            "image_garbage": "photo.jpg",
            "empty_dir": "nothing",
        }[kind]
    )
    if kind == "zero":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a video\n" * 50)
    elif kind == "truncated_header":
        path.write_bytes(good_clip.read_bytes()[:200])
    elif kind == "image_garbage":
        path.write_bytes(os.urandom(2000))
    elif kind == "empty_dir":
        path.mkdir()
    return path


@pytest.mark.parametrize("kind", ["zero", "text", "truncated_header", "image_garbage", "empty_dir"])
def test_unreadable_input(tmp_path, capsys, silent_clip, kind):
    bad = make_bad(tmp_path, kind, silent_clip)
    code = main(["run", str(bad), "-o", str(tmp_path / "out.mp4"), "--quiet", *SETS])
    line = one_line_error(capsys, code)
    assert bad.name in line
    assert not (tmp_path / "out.mp4").exists()


def test_missing_input(tmp_path, capsys):
    code = main(["run", str(tmp_path / "nope.mp4"), "--quiet"])
    assert "input not found" in one_line_error(capsys, code)


def test_audio_only_file(tmp_path, capsys):
    import av
    import numpy as np

    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 16000, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    code = main(["run", str(path), "--quiet"])
    assert "no video stream" in one_line_error(capsys, code)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["detect.model=/nonexistent/face.onnx"], "face detector model not found"),
        (["enhance.mode=generator", "enhance.model=/nonexistent/g.onnx"], "generator model"),
        (["enhance.bogus=1"], "unknown config key enhance.bogus"),
        (["detect.imgsz=abc"], "detect.imgsz must be int"),
        (["enhance.mode=magic"], "enhance.mode must be one of"),
        (["enhance.providers=[quantum]"], "enhance.providers"),
    ],
)
def test_bad_model_or_config(tmp_path, capsys, silent_clip, overrides, message):
    args = ["run", str(silent_clip), "-o", str(tmp_path / "o.mp4"), "--quiet"]
    code = main(args + [a for o in overrides for a in ("--set", o)])
    assert message in one_line_error(capsys, code)


@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_corrupt_and_foreign_generator(tmp_path, capsys, silent_clip, runtime):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(os.urandom(4096))
    code = main(
        [
            "run",
            str(silent_clip),
            "--quiet",
            "--set",
            "enhance.mode=generator",
            "--set",
            f"enhance.model={corrupt}",
            "--set",
            f"enhance.runtime={runtime}",
        ]
    )
    assert "cannot load ONNX model corrupt.onnx" in one_line_error(capsys, code)


def test_generator_sha256_mismatch(tmp_path, capsys, silent_clip, tiny_generator):
    code = main(
        [
            "run",
            str(silent_clip),
            "--quiet",
            "--set",
            "enhance.mode=generator",
            "--set",
            f"enhance.model={tiny_generator}",
            "--set",
            "enhance.model_sha256=" + "0" * 64,
        ]
    )
    assert "fails its sha256 check" in one_line_error(capsys, code)


def test_bad_yaml(tmp_path, capsys, silent_clip):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("detect: [unclosed\n")
    code = main(["run", str(silent_clip), "--config", str(cfg), "--quiet"])
    assert "not valid YAML" in one_line_error(capsys, code)


def test_unwritable_output(tmp_path, capsys, silent_clip):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["run", str(silent_clip), "-o", str(blocker / "sub" / "o.mp4"), "--quiet", *SETS])
    assert "cannot create output folder" in one_line_error(capsys, code)


@pytest.mark.parametrize(
    "flags", [["--set", "output.mjpeg_port={port}"], ["--serve", "--port", "{port}"]]
)
def test_taken_preview_or_monitor_port(tmp_path, capsys, silent_clip, flags):
    """The preview's or the monitor's port already in use: one line, exit 2, nothing left."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        args = [f.format(port=port) for f in flags]
        out = tmp_path / ("o" if "--serve" in flags else "o.mp4")
        code = main(["run", str(silent_clip), "-o", str(out), *args, *SETS])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"streamproc: error: cannot serve on 127.0.0.1:{port}: Address already in use"
    ]
    assert not out.exists() or (out.is_dir() and not any(out.iterdir()))


def test_unknown_flag(capsys):
    code = main(["run", "--frobnicate"])
    assert "unrecognized arguments" in one_line_error(capsys, code)


def start_run(clip: Path, out: Path) -> subprocess.Popen:
    """`streamproc run` in its own process, so that it can be signalled."""
    cmd = [sys.executable, "-m", "streamproc", "run", str(clip), "-o", str(out), "--quiet"]
    return subprocess.Popen([*cmd, *SETS], stderr=subprocess.PIPE, text=True)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@pytest.mark.parametrize(
    ("signum", "more_fragments"),
    [(signal.SIGINT, 0), (signal.SIGTERM, 0), (signal.SIGINT, 1), (signal.SIGTERM, 1)],
)
def test_signal_mid_run_leaves_playable_file(tmp_path, long_clip, signum, more_fragments):
    out = tmp_path / "cut.mp4"
    proc = start_run(long_clip, out)
    manifest = Path(str(out) + ".manifest.json")
    # Interrupt once the first fragment is on disk, or once the file has grown past it.
    wait_for(lambda: _size(out) or proc.poll() is not None, 60, "the first fragment")
    first_size = _size(out)
    if more_fragments:
        wait_for(lambda: _size(out) > first_size or proc.poll() is not None, 60, "more output")
    assert proc.poll() is None, "the run ended before it was interrupted"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    frames, pts, info = read_frames(out)
    assert 0 < len(frames) < 480
    assert pts == sorted(pts) and info["audio"] == 1
    import json

    doc = json.loads(manifest.read_text())
    assert doc["status"] == "interrupted"
    assert len(doc["frames"]) == len(frames)


def _catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` (Linux: SigCgt in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_startup_is_clean(tmp_path, long_clip, signum):
    out = tmp_path / "early.mp4"
    proc = start_run(long_clip, out)
    # Signal once main() has installed its start-up handler (SIGTERM is caught), before
    # any output exists: imports and model loading are still going on.
    wait_for(lambda: _catches(proc.pid, signal.SIGTERM) or proc.poll() is not None, 60, "main")
    assert proc.poll() is None, "the run ended before it was interrupted"
    assert _size(out) == 0, "output was written before the signal"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    if out.exists() and out.stat().st_size:
        read_frames(out)  # whatever was written is playable
