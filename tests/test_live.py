"""Live sources against a real RTSP server (Debian's GStreamer RTSP server, see .ci/run)."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import wait_for
from synth import read_frames, write_clip

from streamproc.core.config import load_config
from streamproc.run.job import Job

SERVER = Path(__file__).parent / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def _has_gst_rtsp() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"],
        capture_output=True,
    )
    return probe.returncode == 0


pytestmark = [
    pytest.mark.rtsp,
    pytest.mark.skipif(
        not _has_gst_rtsp(),
        reason="GStreamer RTSP server not installed "
        "(.ci/run installs gir1.2-gst-rtsp-server-1.0 python3-gi)",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RtspServer:
    def __init__(self, clip: Path, port: int, user: str = "", password: str = "") -> None:
        self.args = [SYSTEM_PYTHON, str(SERVER), str(clip), str(port)]
        if user:
            self.args += ["--user", user, "--password", password]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "READY"

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="module")
def rtsp_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rtsp") / "cam.mp4"
    write_clip(path, n_frames=240, n_faces=1, face_px=80, fps=12)
    return path


def events(job: Job, name: str) -> list[dict]:
    return [e for e in job.source.info.events if e["event"] == name]


def test_rtsp_reconnects_after_outage_and_masks_credentials(rtsp_clip, tmp_path, caplog):
    port = free_port()
    server = RtspServer(rtsp_clip, port, "admin", "s3cret-pw")
    server.start()
    out = tmp_path / "live.mp4"
    config = load_config(
        None, ["detect.imgsz=320", "source.reconnect_initial_s=0.2", "source.watchdog_s=2"]
    )
    job = Job([f"rtsp://admin:s3cret-pw@127.0.0.1:{port}/cam"], config, out)
    try:
        job.start()
        wait_for(lambda: job.stats.frames_out >= 10, 30, "first frames")
        server.kill()  # the camera goes away
        wait_for(lambda: events(job, "disconnect"), 15, "disconnect detected")
        before = job.stats.frames_out
        time.sleep(1.0)
        server.start()  # and comes back
        wait_for(lambda: events(job, "reconnected"), 30, "reconnect")
        wait_for(lambda: job.stats.frames_out >= before + 10, 30, "frames after gap")
        job.pipeline.request_stop()
        (summary,) = job.finish("interrupted")
    finally:
        job.pipeline.abort.set()
        server.kill()
    assert summary["frames_out"] >= before + 10
    assert events(job, "reconnected")[0]["gap_s"] >= 1.0
    frames, pts, _ = read_frames(out)
    assert len(frames) == summary["frames_out"]
    assert pts == sorted(pts)
    # The gap shows in the output timing: one step much longer than a frame.
    steps = [b - a for a, b in zip(pts, pts[1:], strict=False)]
    assert max(steps) * (1 / 90000) > 0.9
    manifest_text = Path(str(out) + ".manifest.json").read_text()
    assert "s3cret-pw" not in manifest_text and "admin" not in manifest_text
    assert "s3cret-pw" not in caplog.text
    doc = json.loads(manifest_text)
    assert {e["event"] for e in doc["input"]["events"]} >= {"disconnect", "reconnected"}
    assert doc["input"]["name"] == f"rtsp://***@127.0.0.1:{port}/cam"
    assert not [t for t in threading.enumerate() if t.name.startswith("streamproc-")]


def test_stalled_stream_is_detected_by_watchdog(rtsp_clip, tmp_path):
    port = free_port()
    server = RtspServer(rtsp_clip, port)
    server.start()
    config = load_config(
        None,
        [
            "detect.imgsz=320",
            "source.watchdog_s=1.5",
            "source.reconnect_initial_s=0.2",
            "source.open_timeout_s=2",
        ],
    )
    job = Job([f"rtsp://127.0.0.1:{port}/cam"], config, tmp_path / "stall.mp4")
    try:
        job.start()
        wait_for(lambda: job.stats.frames_out >= 5, 30, "first frames")
        server.proc.send_signal(signal.SIGSTOP)  # connection open, no data: a stall
        stalled_at = time.monotonic()
        wait_for(lambda: events(job, "disconnect"), 15, "watchdog")
        assert time.monotonic() - stalled_at < 8
        server.proc.send_signal(signal.SIGCONT)
        job.pipeline.request_stop()
        job.finish("interrupted")
    finally:
        job.pipeline.abort.set()
        if server.proc is not None:
            server.proc.send_signal(signal.SIGCONT)
        server.kill()


def test_unreachable_stream_is_one_clear_error(capsys):
    from streamproc.run.cli import main

    port = free_port()  # nothing listens here
    code = main(
        [
            "run",
            f"rtsp://user:pw@127.0.0.1:{port}/cam",
            "--quiet",
            "--set",
            "source.open_timeout_s=2",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("streamproc: error: cannot open rtsp://***@127.0.0.1")
    assert "pw" not in err.replace("***", "")


@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi-camera"])
def test_live_recording_rotates_into_chained_parts(rtsp_clip, tmp_path, multi):
    """output.rotate_s: a new file + manifest every 1.5 s; each manifest chains to the last."""
    port = free_port()
    server = RtspServer(rtsp_clip, port)
    server.start()
    url = f"rtsp://127.0.0.1:{port}/cam"
    config = load_config(None, ["detect.imgsz=320", "output.rotate_s=1.5"])
    try:
        if multi:
            job = Job([url], config, str(tmp_path), folder=True)
            stats = job.pipeline.cameras[0].stats
        else:
            job = Job([url], config, tmp_path / "live.mp4")
            stats = job.stats
        job.start()
        wait_for(lambda: stats.frames_out >= 50, 60, "4 s of frames")
        # Three parts at least, so that a middle part can go missing below (on a slow
        # machine 50 frames may span only two).
        wait_for(lambda: len(list(tmp_path.glob("*.mp4"))) >= 3, 60, "a third part")
        job.pipeline.request_stop()
        (summary,) = job.finish("interrupted")
    finally:
        job.pipeline.abort.set()
        server.kill()
    parts = sorted(tmp_path.glob("*.mp4"), key=lambda p: (".part" in p.name, p.name))
    assert len(parts) >= 3, parts
    previous_sha, indices = None, []
    for k, part in enumerate(parts):
        manifest = Path(f"{part}.manifest.json")
        doc = json.loads(manifest.read_text())
        assert doc["part"]["index"] == k and doc["part"]["first"] == parts[0].name
        assert doc["part"]["previous_manifest_sha256"] == previous_sha
        assert doc["status"] == ("interrupted" if k == len(parts) - 1 else "finished")
        assert doc["outputs"][0]["path"] == part.name
        frames, _, _ = read_frames(part)
        assert len(frames) == len(doc["frames"]) > 0  # each part plays on its own
        indices += [f["index"] for f in doc["frames"]]
        previous_sha = hashlib.sha256(manifest.read_bytes()).hexdigest()
    # Together the parts hold every frame written, once, in order.
    assert len(indices) == summary["frames_out"] and indices == sorted(set(indices))
    if multi:
        return
    # `streamproc verify` checks the chain: intact, then one part altered, then one missing.
    from streamproc.run.verify import verify

    last = Path(f"{parts[-1]}.manifest.json")
    result = verify(last)
    assert result.verified, result.message
    assert f"{len(parts)} parts, each intact and chained" in result.message
    data = parts[1].read_bytes()
    parts[1].write_bytes(data[:-10] + bytes(10))
    altered = verify(last)
    assert not altered.verified and f"part 1 ({parts[1].name}) is ALTERED" in altered.message
    parts[1].write_bytes(data)
    Path(f"{parts[1]}.manifest.json").unlink()
    missing = verify(last)
    assert not missing.verified and "part 1" in missing.message and "missing" in missing.message


def test_camera_down_at_start_is_waited_for_by_a_monitor(rtsp_clip, tmp_path):
    """A monitor or fleet (lenient mode) starting while a camera reboots: the camera shows
    "connecting" and is recorded as soon as it answers."""
    port = free_port()
    server = RtspServer(rtsp_clip, port)
    url = f"rtsp://127.0.0.1:{port}/cam"
    overrides = ["detect.imgsz=320", "source.reconnect_initial_s=0.2", "source.open_timeout_s=2"]
    job = Job([url], load_config(None, overrides), str(tmp_path), skip_unopenable=True, folder=True)
    cam = job.pipeline.cameras[0]
    try:
        job.start()
        wait_for(lambda: cam.status == "connecting", 10, "the camera shown as connecting")
        assert cam.stats.frames_in == 0
        server.start()  # the camera comes up
        wait_for(lambda: cam.stats.frames_out >= 10, 30, "frames once the camera is up")
        assert cam.status == "live"
        job.pipeline.request_stop()
        (summary,) = job.finish("interrupted")
    finally:
        job.pipeline.abort.set()
        server.kill()
    frames, _, _ = read_frames(job.output)
    assert len(frames) == summary["frames_out"] >= 10 and frames[0].shape == (240, 320, 3)
    doc = json.loads(Path(f"{job.output}.manifest.json").read_text())
    assert [e["event"] for e in doc["input"]["events"]] == ["connected"]
