"""`streamproc verify`: a recorded job re-runs on the CPU to the same bytes, or says where not."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import FAST

from streamproc.run.cli import main

SETS = [a for s in FAST for a in ("--set", s)]


@pytest.fixture()
def recorded(silent_clip, tmp_path):
    out = tmp_path / "rec.mp4"
    assert main(["run", str(silent_clip), "-o", str(out), "--quiet", *SETS]) == 0
    return out, tmp_path / "rec.mp4.manifest.json"


def test_verify_reproduces_output(recorded, capsys):
    _, manifest = recorded
    assert main(["verify", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "verified: re-run reproduces all 12 frames exactly; rec.mp4 is intact" in out


def test_verify_of_a_previewed_run_serves_no_preview(silent_clip, tmp_path, capsys):
    """A run recorded with ``output.mjpeg_port`` re-runs without binding that port (the
    run being checked may still be serving on it)."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        out = tmp_path / "prev.mp4"
        preview = ["--set", f"output.mjpeg_port={port}"]
        assert main(["run", str(silent_clip), "-o", str(out), "--quiet", *SETS, *preview]) != 0
        capsys.readouterr()  # the port is taken: the run itself is refused ...
        free = ["--set", "output.mjpeg_port=0"]
        assert main(["run", str(silent_clip), "-o", str(out), "--quiet", *SETS, *free]) == 0
        manifest = tmp_path / "prev.mp4.manifest.json"
        doc = json.loads(manifest.read_text())
        doc["config"]["output"]["mjpeg_port"] = port  # ... as if recorded with the preview
        manifest.write_text(json.dumps(doc))
        assert main(["verify", str(manifest)]) == 0, capsys.readouterr()
    assert "re-run reproduces all 12 frames exactly" in capsys.readouterr().out


def test_verify_reports_first_differing_frame(recorded, silent_clip, tmp_path, capsys):
    out, manifest = recorded
    other = tmp_path / "other.mp4"
    assert (
        main(
            [
                "run",
                str(silent_clip),
                "-o",
                str(other),
                "--quiet",
                *SETS,
                "--set",
                "composite.marker=false",
            ]
        )
        == 0
    )
    shutil.copy(other, out)  # the file no longer is what the manifest describes
    doc = json.loads(manifest.read_text())
    assert (
        doc["outputs"][0]["sha256"]
        != json.loads((tmp_path / "other.mp4.manifest.json").read_text())["outputs"][0]["sha256"]
    )
    assert main(["verify", str(manifest)]) == 1
    text = capsys.readouterr().out
    assert "NOT verified: re-run reproduces all 12 frames exactly; rec.mp4 is ALTERED" in text


def test_verify_reports_first_frame_the_rerun_changes(recorded, tmp_path, capsys):
    _, manifest = recorded
    doc = json.loads(manifest.read_text())
    doc["frames"][5]["frame_sha256"] = "0" * 32  # as if frame 5 had been made differently
    manifest.write_text(json.dumps(doc))
    assert main(["verify", str(manifest)]) == 1
    assert "differs from the recorded frames at frame 5" in capsys.readouterr().out


def test_verify_refuses_changed_input(recorded, silent_clip, tmp_path, capsys):
    _, manifest = recorded
    changed = tmp_path / "changed.mp4"
    changed.write_bytes(silent_clip.read_bytes() + b"\0")
    assert main(["verify", str(manifest), "--input", str(changed)]) == 2
    assert "has changed since the run" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["{not json", '{"a": 1}', "[]"])
def test_verify_refuses_non_manifests(tmp_path, capsys, content):
    path = tmp_path / "x.manifest.json"
    path.write_text(content)
    assert main(["verify", str(path)]) == 2
    assert "not a streamproc manifest" in capsys.readouterr().err


def test_verify_re_runs_with_the_runs_small_face_generator(
    face_clip, tiny_generator, tmp_path, capsys
):
    clip, _ = face_clip
    out = tmp_path / "small.mp4"
    small = ["--set", f"enhance.small_model={tiny_generator}"]
    small += ["--set", "enhance.small_model_max_face_px=400"]
    assert main(["run", str(clip), "-o", str(out), "--quiet", *SETS, *small]) == 0
    manifest = tmp_path / "small.mp4.manifest.json"
    assert main(["verify", str(manifest)]) == 0
    assert "re-run reproduces all" in capsys.readouterr().out
    moved = tmp_path / "moved.onnx"
    shutil.move(tiny_generator, moved)
    try:
        assert main(["verify", str(manifest)]) != 0
        assert "small-face generator model not found" in capsys.readouterr().err
    finally:
        shutil.move(moved, tiny_generator)
