"""``streamproc batch``: Ray tasks on a local 2-CPU cluster give the single-process frames."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
from conftest import FAST, wait_for
from synth import read_frames, scene_frame, write_clip

from streamproc.core.config import config_to_dict, load_config
from streamproc.run.cli import main
from streamproc.scale import batch
from streamproc.scale import segments as batch_segments

ray = pytest.importorskip("ray")


def _hashes(output: Path) -> list[str]:
    doc = json.loads(Path(f"{output}.manifest.json").read_text())
    assert doc["status"] == "finished"
    return [f["frame_sha256"] for f in doc["frames"]]


def _single_process(spec: Path, overrides: list[str], out_dir: Path) -> list[str]:
    output = out_dir / f"{spec.stem}.single.mp4"
    value = batch.run_job(str(spec), config_to_dict(load_config(None, overrides)), str(output))
    assert "summary" in value, value
    return _hashes(output)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("batch_clips")
    paths = []
    for i in range(4):
        paths.append(folder / f"cam{i}.mp4")
        write_clip(paths[-1], n_frames=12, n_faces=1 + i % 2, face_px=70 + 5 * i)
    return paths


def test_batch_matches_single_process_resumes_and_reports_bad_input(clips, tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"")
    out = tmp_path / "out"
    args = ["batch", *map(str, clips), str(bad), "-o", str(out), "--workers", "2", "--quiet"]
    args += [a for o in FAST for a in ("--set", o)]

    assert main(args) == 2  # one bad input: reported, the others finish
    summary = json.loads((out / "summary.json").read_text())
    status = {Path(f["input"]).name: f for f in summary["files"]}
    assert [status[c.name]["status"] for c in clips] == ["finished"] * 4
    assert status["broken.mp4"]["status"] == "failed"
    assert "broken.mp4" in status["broken.mp4"]["error"]
    assert summary["totals"]["frames"] == 48 and summary["totals"]["failed"] == 1
    assert "| broken.mp4 | failed |" in (out / "summary.md").read_text()
    for clip in clips:
        batched = _hashes(out / f"{clip.stem}.enhanced.mp4")
        assert len(batched) == 12
        assert batched == _single_process(clip, FAST, tmp_path)

    assert main(args) == 2  # re-run: finished work is skipped, the bad input fails again
    again = json.loads((out / "summary.json").read_text())
    assert [f["status"] for f in again["files"]] == ["skipped"] * 4 + ["failed"]
    assert again["totals"]["frames"] == 48


def crash_once(spec: str, config_data: dict, output: str, worker=None) -> dict:
    """On the first attempt its worker process dies mid-run (5 frames written), as a node
    loss or an OOM kill would do it; the retry runs normally."""
    from streamproc.core.config import config_from_dict
    from streamproc.run.job import Job

    marker = Path(output).with_name(Path(output).name + ".crashed")
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        job = Job([spec], config_from_dict(config_data), Path(output))
        job.start()
        while job.stats.frames_out < 5 and job.pipeline.alive():
            time.sleep(0.01)
        os._exit(1)
    return batch.run_job(spec, config_data, output, worker)


def test_killed_worker_is_retried_and_the_batch_completes(clips, tmp_path):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    config = load_config(None, FAST)
    options = batch.BatchOptions(out_dir=tmp_path, workers=2, max_retries=2)
    results = batch.run_batch(map(str, clips[:2]), config, options, task=crash_once)
    assert [r.status for r in results] == ["finished", "finished"]
    for clip, result in zip(clips[:2], results, strict=True):  # the retry's frames are exact
        assert result.frame_sha256 == _single_process(clip, FAST, tmp_path)
    for clip in clips[:2]:  # really crashed once each, then re-ran in a fresh worker
        assert (tmp_path / f"{clip.stem}.enhanced.mp4.crashed").exists()

    options = batch.BatchOptions(out_dir=tmp_path / "noretry", workers=2, max_retries=0)
    (failed,) = batch.run_batch([str(clips[2])], config, options, task=crash_once)
    assert failed.status == "failed" and failed.error  # reported, never dropped
    assert batch.exit_code([failed]) == 1


def count_loads(spec: str, config_data: dict, output: str, worker=None) -> dict:
    """The batch task, then writes how many models its worker has loaded so far (and its
    pid) next to the output."""
    value = batch.run_job(spec, config_data, output, worker)
    Path(f"{output}.loads").write_text(f"{os.getpid()} {worker.loads()}")
    return value


def test_one_worker_loads_the_models_once_for_all_its_files(clips, tmp_path):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    config = load_config(None, FAST)
    options = batch.BatchOptions(out_dir=tmp_path, workers=1)
    results = batch.run_batch(map(str, clips[:3]), config, options, task=count_loads)
    assert [r.status for r in results] == ["finished"] * 3
    loads = [Path(f"{r.output}.loads").read_text().split() for r in results]
    assert len({pid for pid, _ in loads}) == 1  # one worker process ran all three
    # Detector and both generators loaded for the first file; the next two loaded nothing.
    assert [int(n) for _, n in loads] == [3, 3, 3]
    for clip, result in zip(clips[:3], results, strict=True):  # as with fresh models
        assert result.frame_sha256 == _single_process(clip, FAST, tmp_path)


def _write_gop_clip(path: Path, n_frames: int, gop: int, fps: int = 12) -> None:
    """Like synth.write_clip, with a keyframe every ``gop`` frames (cut points)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.options = {"crf": "18", "preset": "ultrafast", "x264-params": "scenecut=0"}
        for i in range(n_frames):
            image, _ = scene_frame(i, 320, 240, 1, 80)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_segments_join_without_reencode_to_the_unsplit_frames(tmp_path):
    clip = tmp_path / "long.mp4"
    _write_gop_clip(clip, n_frames=16, gop=4)
    # Each segment has its own tracker and motion gate: frame-exact joins need
    # per-frame-independent work.
    overrides = [
        *FAST,
        "track.enabled=false",
        "detect.every_n_frames=1",
        "detect.motion_gate=false",
    ]
    config = load_config(None, overrides)
    options = batch.BatchOptions(
        out_dir=tmp_path / "out", workers=2, segment_s=0.3, keep_segments=True
    )
    (result,) = batch.run_batch([str(clip)], config, options)
    assert result.status == "finished", result.error
    assert result.segments == 4  # cut at each keyframe: frames 0, 4, 8, 12
    assert result.frame_sha256 == _single_process(clip, overrides, tmp_path)

    joined = Path(result.output)
    frames, pts, _ = read_frames(joined)
    assert len(frames) == 16
    assert pts == sorted(pts) and len(set(pts)) == 16
    steps = {b - a for a, b in zip(pts[:-1], pts[1:], strict=True)}
    assert len(steps) == 1  # continuous: no gap or overlap at the joins
    # No re-encode: the joined packets are the segment outputs' packets, byte for byte.
    seg_dir = joined.parent / ".segments" / "long.enhanced"
    seg_bytes = []
    for seg in sorted(seg_dir.glob("out*.mp4")):
        with av.open(str(seg)) as c:
            seg_bytes += [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]
    with av.open(str(joined)) as c:
        assert [bytes(p) for p in c.demux(c.streams.video[0]) if p.size] == seg_bytes

    # Resume works on joined outputs too.
    (again,) = batch.run_batch([str(clip)], config, options)
    assert again.status == "skipped" and again.frame_sha256 == result.frame_sha256

    # With tracking on, each segment's ids are offset in the joined manifest: no id names
    # two different tracks.
    tracked = batch.BatchOptions(out_dir=tmp_path / "tracked", workers=2, segment_s=0.3)
    (with_ids,) = batch.run_batch([str(clip)], load_config(None, FAST), tracked)
    doc = json.loads(Path(f"{with_ids.output}.manifest.json").read_text())
    ids_by_segment = [
        {face["track_id"] for f in doc["frames"][4 * k : 4 * k + 4] for face in f["faces"]}
        for k in range(4)
    ]
    stride = batch_segments.TRACK_ID_STRIDE
    for k, ids in enumerate(ids_by_segment):
        assert ids and all(k * stride <= i < (k + 1) * stride for i in ids if i >= 0), ids
    assert any(i >= 3 * stride for i in ids_by_segment[3])

    # By default the segments are removed once joined.
    plain = batch.BatchOptions(out_dir=tmp_path / "plain", workers=2, segment_s=0.3)
    (cleaned,) = batch.run_batch([str(clip)], config, plain)
    assert cleaned.segments == 4 and cleaned.frame_sha256 == result.frame_sha256
    assert not (tmp_path / "plain" / ".segments").exists()


def hang_on_cam0(spec: str, config_data: dict, output: str, worker=None) -> dict:
    """A task that never returns for cam0 (a stuck read from network storage)."""
    if "cam0" in Path(spec).name:
        time.sleep(600)
    return batch.run_job(spec, config_data, output, worker)


def test_task_past_its_timeout_is_cancelled_and_reported(clips, tmp_path):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    options = batch.BatchOptions(out_dir=tmp_path, workers=2, task_timeout_s=15)
    start = time.monotonic()
    hung, fine = batch.run_batch(
        [str(clips[0]), str(clips[1])], load_config(None, FAST), options, task=hang_on_cam0
    )
    assert time.monotonic() - start < 60
    assert hung.status == "failed" and "timed out after 15 s" in hung.error
    assert fine.status == "finished" and len(fine.frame_sha256) == 12
    assert batch.exit_code([hung, fine]) == 1


def test_sigterm_stops_the_batch_and_a_rerun_finishes_it(tmp_path):
    """SIGTERM: the running task closes its file with an "interrupted" manifest, nothing
    new starts, the summary says so (exit 130); running again processes both files."""
    clips = []
    # Long enough that the first file is still being processed when the signal lands
    # (at 120 frames a fast machine had finished it: seen on a clean clone), without the
    # motion gate, which makes this static synthetic scene nearly free (a file that had
    # ended before the stop is rightly "finished", not "interrupted").
    for i in range(2):
        clips.append(tmp_path / f"long{i}.mp4")
        write_clip(clips[-1], n_frames=480, n_faces=1, face_px=80)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "streamproc", "batch", *map(str, clips), "-o", str(out)]
    sets = [*FAST, "detect.motion_gate=false"]
    cmd += ["--workers", "1", "--quiet", *[a for o in sets for a in ("--set", o)]]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        first = out / "long0.enhanced.mp4"
        wait_for(lambda: first.exists() and first.stat().st_size, 90, "the first fragment")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "SIGTERM received" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert [f["status"] for f in summary["files"]] == ["interrupted", "interrupted"]
    assert json.loads(Path(f"{first}.manifest.json").read_text())["status"] == "interrupted"
    assert len(read_frames(first)[0]) > 0  # what was written stays playable

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads((out / "summary.json").read_text())
    assert [f["status"] for f in again["files"]] == ["finished", "finished"]
    assert again["totals"]["frames"] == 960
