"""``streamproc fleet``: camera groups as Ray actors on a local cluster.

Files stand in for cameras where frame-exact comparison is needed; real RTSP cameras
(Debian's GStreamer RTSP server) where the point is live behaviour: a killed actor is
restarted into a new run folder and the file it was writing stays playable.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest
import yaml
from conftest import FAST, wait_for
from synth import write_clip

from streamproc.core.config import config_to_dict, load_config
from streamproc.run.cli import main
from streamproc.scale import batch, fleet

ray = pytest.importorskip("ray")


def _hashes(manifest: Path) -> tuple[str, list[str]]:
    doc = json.loads(manifest.read_text())
    return doc["status"], [f["frame_sha256"] for f in doc["frames"]]


def _single_process(spec: Path, out_dir: Path) -> list[str]:
    output = out_dir / f"{spec.stem}.single.mp4"
    value = batch.run_job(str(spec), config_to_dict(load_config(None, FAST)), str(output))
    assert "summary" in value, value
    return _hashes(Path(f"{output}.manifest.json"))[1]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("fleet_clips")
    paths = []
    for i in range(3):
        paths.append(folder / f"cam{i}.mp4")
        write_clip(paths[-1], n_frames=12, n_faces=1 + i % 2, face_px=70 + 5 * i)
    return paths


def test_groups_of_files_match_single_process_and_bad_group_is_reported(clips, tmp_path):
    groups = {
        "lobby": [str(clips[0]), str(clips[1])],
        "gate": [str(clips[2]), str(tmp_path / "gone.mp4")],
        "broken": [str(tmp_path / "missing.mp4")],
    }
    inputs = tmp_path / "cams.yaml"
    inputs.write_text(yaml.safe_dump(groups))
    out = tmp_path / "out"
    args = ["fleet", "--inputs", str(inputs), "-o", str(out), "--quiet"]
    args += ["--status-interval-s", "0.5", *[a for o in FAST for a in ("--set", o)]]

    assert main(args) == 2  # the only failures are bad inputs

    summary = json.loads((out / "summary.json").read_text())
    by_name = {g["name"]: g for g in summary["groups"]}
    assert by_name["lobby"]["state"] == by_name["gate"]["state"] == "ended"
    assert by_name["broken"]["state"] == "failed" and by_name["broken"]["bad_input"]
    assert "missing.mp4" in by_name["broken"]["error"]
    assert summary["totals"]["frames"] == 36 and summary["totals"]["failed_groups"] == 1
    # A camera that cannot be opened is reported; the rest of its group runs.
    gone = by_name["gate"]["cameras"][1]
    assert gone["status"] == "failed" and "gone.mp4" in gone["error"] and gone["frames_out"] == 0
    # Every camera's frames equal a single-process run of that file, pixel for pixel.
    for name, clip_ids in (("lobby", [0, 1]), ("gate", [2])):
        group = by_name[name]
        assert group["run_dirs"] == [str(out.resolve() / name / "run-000")]
        for cam, i in zip(group["cameras"][: len(clip_ids)], clip_ids, strict=True):
            assert cam["status"] == "ended" and cam["frames_out"] == 12
            status, hashes = _hashes(Path(f"{cam['output']}.manifest.json"))
            assert status == "finished"
            assert hashes == _single_process(clips[i], tmp_path)
    md = (out / "summary.md").read_text()
    assert "| broken | failed |" in md and "3 groups (1 failed), 5 cameras (2 failed)" in md
    # The last status.json shows the end state of every group.
    status = json.loads((out / "status.json").read_text())
    assert {g["name"]: g["state"] for g in status["groups"]} == {
        "lobby": "ended",
        "gate": "ended",
        "broken": "failed",
    }


def test_groups_queue_for_gpus_and_each_sees_its_own(clips, tmp_path):
    """Two (resource-only) GPUs, three groups asking for one each: the third waits."""
    groups = fleet.plan_groups([str(c) for c in clips], cameras_per_group=1)
    options = fleet.FleetOptions(
        out_dir=tmp_path / "out", gpus_per_group=1, local_gpus=2, status_interval_s=0.5, serve=True
    )
    docs: list[dict] = []
    served: list[dict] = []

    def watch(doc: dict) -> None:
        docs.append(doc)
        if not served:  # the driver's status page serves the same document
            page = httpx.get(doc["monitor"], timeout=5)
            assert page.status_code == 200 and "streamproc fleet" in page.text
            served.append(httpx.get(doc["monitor"] + "api/status", timeout=5).json())

    config = load_config(None, [*FAST, "serve.port=0"])
    summary = fleet.run_fleet(groups, config, options, threading.Event(), watch)
    assert [g["name"] for g in served[0]["groups"]] == ["g0", "g1", "g2"]
    assert served[0]["monitor"].startswith("http://127.0.0.1:")

    assert [g["state"] for g in summary["groups"]] == ["ended"] * 3
    assert all(len(g["gpu_ids"]) == 1 and g["gpu_ids"][0] in ("0", "1") for g in summary["groups"])
    for doc in docs:
        holding = [g for g in doc["groups"] if g["state"] == "running"]
        assert len(holding) <= 2
        ids = [g["gpu_ids"][0] for g in holding]
        assert len(set(ids)) == len(ids), f"two running groups share a GPU: {doc}"
    assert any(g["state"] == "pending" for doc in docs for g in doc["groups"])


def test_reserving_gpus_for_a_cpu_config_is_flagged():
    from streamproc.scale.cluster import unused_gpu_warning

    assert "runs on the CPU" in unused_gpu_warning(load_config(None, []), 1)
    assert unused_gpu_warning(load_config(None, ["enhance.providers=[cuda,cpu]"]), 1) is None
    assert unused_gpu_warning(load_config(None, ["detect.device=cuda:0"]), 0.5) is None
    assert unused_gpu_warning(load_config(None, []), 0) is None


def test_config_points_at_the_assigned_gpu():
    config = load_config(None, ["detect.device=cuda:1", "enhance.device_id=1"])
    moved = fleet.on_assigned_gpu(config)
    assert moved.detect.device == "cuda:0" and moved.enhance.device_id == 0
    assert fleet.on_assigned_gpu(load_config(None, [])).detect.device == "cpu"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fleet", "-o", "OUT"], "needs at least one camera"),
        (["fleet", "a.mp4", "-o", "OUT", "--cameras-per-group", "0"], "cameras-per-group"),
        (["fleet", "--inputs", "CAMS", "-o", "OUT"], "group name"),
        (["fleet", "a.mp4", "-o", "OUT", "--gpus-per-group", "-1"], "gpus-per-group"),
    ],
)
def test_bad_fleet_arguments_are_one_line(args, message, tmp_path, capsys):
    cams = tmp_path / "cams.yaml"
    cams.write_text(yaml.safe_dump({"bad name!": ["a.mp4"]}))
    args = [str(cams) if a == "CAMS" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()  # nothing started


@pytest.mark.rtsp
def test_killed_live_group_restarts_into_a_new_run(tmp_path, caplog):
    from test_live import RtspServer, _has_gst_rtsp, free_port

    if not _has_gst_rtsp():
        pytest.skip("GStreamer RTSP server not installed")
    password = "fleet-s3cret"
    servers = []
    for i in range(2):
        clip = tmp_path / f"live{i}.mp4"
        write_clip(clip, n_frames=600, n_faces=1, face_px=80, fps=12)
        servers.append(RtspServer(clip, free_port(), *(("op", password) if i == 0 else ())))
    for server in servers:
        server.start()
    ports = [server.args[3] for server in servers]
    groups = [
        fleet.CameraGroup("door", (f"rtsp://op:{password}@127.0.0.1:{ports[0]}/cam",)),
        fleet.CameraGroup("yard", (f"rtsp://127.0.0.1:{ports[1]}/cam",)),
    ]
    out = tmp_path / "out"
    options = fleet.FleetOptions(out_dir=out, status_interval_s=0.5, duration_s=120)
    stop = threading.Event()
    killed: list[int] = []
    started = time.monotonic()

    def frames(group: dict) -> int:
        return sum(c["frames_out"] for c in group["cameras"])

    def drive(doc: dict) -> None:
        door = doc["groups"][0]
        # Live outputs are muxed as encoded; a fragment reaches the disk at each keyframe
        # (every 2 s = 24 frames here): kill after 4 s.
        if not killed and door["state"] == "running" and frames(door) >= 48:
            killed.append(door["pid"])
            os.kill(door["pid"], signal.SIGKILL)  # the actor's process dies mid-recording
        elif (
            killed and door["pid"] != killed[0] and door["state"] == "running" and frames(door) >= 5
        ):
            stop.set()
        if time.monotonic() - started > 90:
            stop.set()

    caplog.set_level(logging.INFO, logger="streamproc")
    try:
        summary = fleet.run_fleet(groups, load_config(None, FAST), options, stop, drive)
    finally:
        for server in servers:
            server.kill()

    assert killed, "the door group never ran"
    door, yard = summary["groups"]
    assert summary["status"] == "interrupted"
    assert door["restarts"] == 1 and yard["restarts"] == 0
    assert door["run_dirs"] == [str(out.resolve() / "door" / f"run-00{i}") for i in (0, 1)]
    assert door["state"] == yard["state"] == "ended"
    assert fleet.exit_code(summary, interrupted=True) == 130
    # The run that was killed left a playable file up to its last complete fragment (no
    # manifest: that is written at the end).
    first = next(Path(door["run_dirs"][0]).glob("*.mp4"))
    with av.open(str(first)) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 24
    assert not list(Path(door["run_dirs"][0]).glob("*.manifest.json"))
    # The restarted run and the untouched group end cleanly, with manifests.
    for cam in (door["cameras"][0], yard["cameras"][0]):
        assert cam["frames_out"] >= 5
        status, hashes = _hashes(Path(f"{cam['output']}.manifest.json"))
        assert status == "interrupted" and len(hashes) == cam["frames_out"]
    # Credentials appear nowhere: status, summary, manifests, log.
    texts = [p.read_text() for p in out.rglob("*.json")] + [(out / "summary.md").read_text()]
    texts.append(caplog.text)
    assert all(password not in text for text in texts)
    assert door["cameras"][0]["name"].startswith("rtsp://***@127.0.0.1:")


def _first_jpeg(url: str) -> np.ndarray:
    with httpx.stream("GET", url, timeout=20) as response:
        assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
        data = b""
        for chunk in response.iter_bytes():
            data += chunk
            start = data.find(b"\xff\xd8")
            end = data.find(b"\xff\xd9", start + 2)
            if start >= 0 and end > 0:
                jpeg = np.frombuffer(data[start : end + 2], np.uint8)
                return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    raise AssertionError(f"no JPEG from {url}")


def test_driver_page_relays_each_cameras_video(long_clip, tmp_path):
    groups = [fleet.CameraGroup("hall", (str(long_clip),))]
    options = fleet.FleetOptions(
        out_dir=tmp_path / "out", status_interval_s=0.5, serve=True, duration_s=120
    )
    stop = threading.Event()
    seen: dict[str, object] = {}

    def watch(doc: dict) -> None:
        hall = doc["groups"][0]
        if stop.is_set() or hall["state"] != "running" or not hall["cameras"]:
            return
        if hall["cameras"][0]["frames_out"] < 3:
            return
        base = doc["monitor"]
        seen["side"] = _first_jpeg(f"{base}cam/hall/0/stream.mjpg?view=side")
        seen["bad_view"] = httpx.get(f"{base}cam/hall/0/stream.mjpg?view=x", timeout=5)
        seen["no_group"] = httpx.get(f"{base}cam/nope/0/stream.mjpg", timeout=5)
        stop.set()

    config = load_config(None, [*FAST, "serve.port=0"])
    summary = fleet.run_fleet(groups, config, options, stop, watch)
    assert summary["status"] == "interrupted" and summary["groups"][0]["state"] == "ended"
    with av.open(str(long_clip)) as container:
        width, height = container.streams.video[0].width, container.streams.video[0].height
    assert seen["side"].shape == (height, 2 * width, 3)  # original | enhanced, from the actor
    assert seen["bad_view"].status_code == 400
    assert seen["no_group"].status_code == 200 and seen["no_group"].content == b""


def test_sigterm_stops_the_fleet_cleanly(long_clip, tmp_path):
    """A service manager's SIGTERM: every group finishes its files and manifests, exit 130.
    (Ray installs its own SIGTERM handler that would end the driver on the spot.)"""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "streamproc", "fleet", str(long_clip), "-o", str(out)]
    cmd += ["--quiet", "--status-interval-s", "0.5", *[a for o in FAST for a in ("--set", o)]]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)

    def recording() -> bool:
        try:
            group = json.loads((out / "status.json").read_text())["groups"][0]
        except (OSError, ValueError, IndexError):
            return False
        return group["state"] == "running" and group["cameras"][0]["frames_out"] > 5

    try:
        wait_for(recording, 90, "the group recording")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert "SIGTERM received" not in err and "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["groups"][0]["state"] == "ended"
    camera = summary["groups"][0]["cameras"][0]
    status, hashes = _hashes(Path(f"{camera['output']}.manifest.json"))
    assert status == "interrupted" and len(hashes) == camera["frames_out"] > 5
