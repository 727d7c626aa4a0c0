"""End-to-end `streamproc run` on files: lossless, timed like the input, faces changed only."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FAST
from synth import read_frames

from streamproc.core.config import EnhanceConfig
from streamproc.run.cli import main


def run(args: list[str]) -> int:
    return main(["run", *args, "--quiet"])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def classical_run(face_clip, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "out.mp4"
    assert run([str(face_clip[0]), "-o", str(out), *sum([["--set", s] for s in FAST], [])]) == 0
    return out


def test_frames_in_equal_frames_out_and_pts_kept(face_clip, classical_run):
    in_frames, in_pts, in_info = read_frames(face_clip[0])
    out_frames, out_pts, out_info = read_frames(classical_run)
    assert len(out_frames) == len(in_frames) == 24
    assert out_pts == in_pts
    assert all(b > a for a, b in zip(out_pts, out_pts[1:], strict=False))
    assert out_info["rate"] == in_info["rate"]


def test_audio_copied_through(face_clip, classical_run):
    import av

    with av.open(str(face_clip[0])) as src, av.open(str(classical_run)) as dst:
        src_packets = [bytes(p) for p in src.demux(src.streams.audio[0]) if p.size]
        dst_packets = [bytes(p) for p in dst.demux(dst.streams.audio[0]) if p.size]
    assert dst_packets == src_packets  # remuxed, not re-encoded


def _badge(faces: list[dict], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Where the compositor put the frame badge (see vision/composite.py)."""
    from streamproc.vision.composite import badge_layout, badge_rect, bracket_bounds

    height, width = shape[:2]
    _, _, size, base = badge_layout(f"AI-enhanced: {len(faces)} faces", width, height)
    avoid = [bracket_bounds(f["box"]) for f in faces]
    return badge_rect(size, base, width, height, avoid)


def test_faces_changed_background_untouched(face_clip, classical_run):
    in_frames, _, _ = read_frames(face_clip[0])
    out_frames, _, _ = read_frames(classical_run)
    manifest = json.loads(Path(str(classical_run) + ".manifest.json").read_text())
    for index in (3, 12, 20):
        src, dst = in_frames[index], out_frames[index]
        faces = manifest["frames"][index]["faces"]
        assert len(faces) == 2 and all(f["enhanced"] for f in faces)
        mask = np.zeros(src.shape[:2], bool)
        for face in faces:
            x1, y1, x2, y2 = face["box"]
            inner = (slice(int(y1) + 4, int(y2) - 4), slice(int(x1) + 4, int(x2) - 4))
            # Inside a face the enhancer really changed the pixels.
            assert psnr(src[inner], dst[inner]) < 40
            side = max(x2 - x1, y2 - y1) * 1.7  # square crop with margin, generously
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            mask[
                max(0, int(cy - side / 2)) : int(cy + side / 2),
                max(0, int(cx - side / 2)) : int(cx + side / 2),
            ] = True
        # ...and the frame's "AI-enhanced: 2 faces" badge.
        x1, y1, x2, y2 = _badge(faces, src.shape)
        mask[y1:y2, x1:x2] = True
        # Outside the crops: only re-encoding error (crf 20 on crf 18 input).
        assert psnr(src[~mask], dst[~mask]) > 38


def test_manifest_and_resolved_config(face_clip, classical_run):
    from streamproc.audit.hashing import sha256_file

    manifest = json.loads(Path(str(classical_run) + ".manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["input"]["sha256"] == sha256_file(face_clip[0])
    assert manifest["outputs"][0]["sha256"] == sha256_file(classical_run)
    detector = manifest["models"]["detector"]
    assert detector["source_sha256"].startswith("f4450fcd")  # the shipped detector
    # fp32 runs it as shipped; int8 (auto, on a CPU without bf16) runs its copy
    assert detector["precision"] in ("fp32", "int8")
    assert (detector["sha256"] == detector["source_sha256"]) == (detector["precision"] == "fp32")
    assert manifest["ai_enhanced_marker"] is True
    assert "not evidence" in manifest["notice"]
    assert len(manifest["frames"]) == 24
    assert manifest["stats"]["frames_out"] == 24
    # Auto mode by each box's height: the ~58 px face classical, the other (47-54 px) the
    # generator on the frames where its box is within the generator's band.
    limit = EnhanceConfig().generator_max_face_px
    for frame in manifest["frames"]:
        for face in frame["faces"]:
            height = face["box"][3] - face["box"][1]  # rounded to 0.1 px in the manifest
            if abs(height - limit) > 0.1:
                assert face["enhancer"] == ("generator" if height <= limit else "classical")
    assert "classical" in {f["enhancer"] for fr in manifest["frames"] for f in fr["faces"]}
    ids = {f["track_id"] for fr in manifest["frames"][2:] for f in fr["faces"]}
    assert len(ids) == 2 and -1 not in ids  # two faces, two stable tracks
    resolved = Path(str(classical_run) + ".config.yaml").read_text()
    assert "imgsz: 320" in resolved


@pytest.mark.parametrize("mode", ["generator", "both"])
def test_generator_modes_run(face_clip, tiny_generator, tmp_path, mode):
    out = tmp_path / "gen.mp4"
    code = run(
        [
            str(face_clip[0]),
            "-o",
            str(out),
            "--set",
            f"enhance.mode={mode}",
            "--set",
            f"enhance.model={tiny_generator}",
            *sum([["--set", s] for s in FAST], []),
        ]
    )
    assert code == 0
    frames, _, _ = read_frames(out)
    assert len(frames) == 24
    manifest = json.loads(Path(str(out) + ".manifest.json").read_text())
    assert manifest["models"]["generator"]["file"] == "tiny.onnx"
    assert manifest["stats"]["faces_enhanced"] == 48


def test_side_by_side_doubles_width(silent_clip, tmp_path):
    out = tmp_path / "sbs.mp4"
    assert (
        run(
            [
                str(silent_clip),
                "-o",
                str(out),
                "--set",
                "composite.side_by_side=true",
                *sum([["--set", s] for s in FAST], []),
            ]
        )
        == 0
    )
    frames, _, info = read_frames(out)
    assert frames[0].shape == (240, 640, 3)
    assert info["audio"] == 0


def test_image_input_gives_image_output(tmp_path):
    from synth import scene_frame

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"cam_{i}.png"), scene_frame(i, 320, 240, 1, 80)[0])
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "enh"
    assert run([str(folder), "-o", str(out), *sum([["--set", s] for s in FAST], [])]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["cam_0.png", "cam_1.png", "cam_2.png"]
    src = cv2.imread(str(folder / "cam_1.png"))
    dst = cv2.imread(str(out / "cam_1.png"))
    assert src.shape == dst.shape and not np.array_equal(src, dst)
    manifest = json.loads((tmp_path / "enh.manifest.json").read_text())
    assert [o["path"] for o in manifest["outputs"]] == written


def test_detect_every_n_frames_keeps_faces_between(face_clip, tmp_path):
    out = tmp_path / "every3.mp4"
    assert (
        run(
            [
                str(face_clip[0]),
                "-o",
                str(out),
                "--set",
                "detect.every_n_frames=3",
                *sum([["--set", s] for s in FAST], []),
            ]
        )
        == 0
    )
    manifest = json.loads(Path(str(out) + ".manifest.json").read_text())
    counts = [len(f["faces"]) for f in manifest["frames"]]
    assert counts[3:] == [2] * 21  # carried forward by the tracker on skipped frames


def test_null_output_writes_nothing(face_clip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run([str(face_clip[0]), "-o", "null", *sum([["--set", s] for s in FAST], [])]) == 0
    assert list(tmp_path.iterdir()) == []
