"""output.rtsp_push: the enhanced stream pushed (RTSP ANNOUNCE/RECORD) to a recorder.

The recorder is Debian's GStreamer RTSP server in RECORD mode (tests/rtsp_server.py
--record), writing what it receives to MPEG-TS, read back here with PyAV.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST, wait_for
from synth import read_frames, write_clip
from test_live import SERVER, SYSTEM_PYTHON, _has_gst_rtsp, free_port

from streamproc.core.config import OutputConfig, SourceConfig, load_config
from streamproc.core.errors import ConfigError
from streamproc.core.packet import FramePacket
from streamproc.io.sinks.rtsp_push import RtspPushSink, per_camera, push_url
from streamproc.io.sources import SourceInfo
from streamproc.run.cli import main
from streamproc.run.job import Job, rtsp_push
from streamproc.run.verify import _rerun_config

SETS = [a for s in FAST for a in ("--set", s)]
USER, PASSWORD = "vms-user", "s3cret-pw"
needs_gst = pytest.mark.skipif(not _has_gst_rtsp(), reason="GStreamer RTSP server not installed")


class RecordServer:
    """tests/rtsp_server.py --record: what is pushed to /NAME lands in ``record_path``."""

    def __init__(self, out: Path, port: int, user: str = "", password: str = "") -> None:
        self.out, self.port = out, port
        self.args = [SYSTEM_PYTHON, str(SERVER), "--record", str(out), str(port)]
        if user:
            self.args += ["--user", user, "--password", password]
        self.proc: subprocess.Popen | None = None

    def start(self) -> RecordServer:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "READY"
        return self

    def record_path(self, name: str = "cam") -> Path:
        return self.out if name == "cam" else self.out.with_name(f"{self.out.stem}.{name}.ts")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc.stdout.close()
            self.proc = None


def recorded_frames(path: Path) -> list[np.ndarray]:
    """The frames the recorder has written so far (an unreadable start: none yet)."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    try:
        return read_frames(path)[0]
    except (OSError, ValueError):  # av's errors are OSErrors; a TS still without a frame
        return []


def settled_frames(path: Path, timeout_s: float = 20, why: str = "") -> list[np.ndarray]:
    """Wait until the recorder has written frames and the count has stopped growing;
    ``why``: what the failure message adds (the push's counters)."""
    seen: list[list[np.ndarray]] = [[]]

    def settled() -> bool:
        frames = recorded_frames(path)
        done = bool(frames) and len(frames) == len(seen[-1])
        seen.append(frames)
        time.sleep(0.3)
        return done

    wait_for(settled, timeout_s, f"frames recorded in {path.name} {why}")
    return seen[-1]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def assert_same_pictures(received: list[np.ndarray], written: list[np.ndarray]) -> None:
    """Each received frame is one of the file output's frames (by content: the best
    match), in order, and close to it (both are lossy encodes of the same frames)."""
    assert received and written
    assert {f.shape for f in received} == {written[0].shape}
    matches = []
    for frame in received:
        scores = [psnr(frame, w) for w in written]
        best = int(np.argmax(scores))
        assert scores[best] > 30, f"received frame matches no output frame ({scores[best]:.1f} dB)"
        matches.append(best)
    assert matches == sorted(matches), matches
    assert len(set(matches)) == len(matches)


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    """``streamproc run`` in its own process: its whole stderr (FFmpeg's own lines too)."""
    cmd = [sys.executable, "-m", "streamproc", "run", *args, *SETS]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("push") / "cam.mp4"
    write_clip(path, n_frames=36, n_faces=1, face_px=80, fps=12)
    return path


# -- the rule and the checks, no server --------------------------------------------------
@pytest.mark.parametrize(
    ("template", "name", "n", "expected"),
    [
        ("rtsp://vms/live", "cam0", 1, "rtsp://vms/live"),
        ("rtsp://vms/live/", "gate", 2, "rtsp://vms/live/gate"),
        ("rtsp://vms:8554", "gate", 3, "rtsp://vms:8554/gate"),
        ("rtsp://u:p@vms/in/{name}/main", "front door", 2, "rtsp://u:p@vms/in/front%20door/main"),
        ("rtsp://vms/{name}", "cam0", 1, "rtsp://vms/cam0"),
        ("rtsp://vms/live?token=1", "b", 2, "rtsp://vms/live/b?token=1"),
    ],
)
def test_push_url_gives_each_camera_its_path(template, name, n, expected):
    assert push_url(template, name, n) == expected


def test_fleet_groups_push_each_camera_to_its_own_path():
    """A fleet's groups share one URL: every camera gets a path, even alone in its group."""
    template = per_camera("rtsp://vms/live?token=1")
    assert template == "rtsp://vms/live/{name}?token=1"
    assert push_url(template, "g1-cam0", 1) == "rtsp://vms/live/g1-cam0?token=1"
    assert per_camera("rtsp://vms/{name}/main") == "rtsp://vms/{name}/main"


@pytest.mark.parametrize(
    "url", ["http://user:secret@vms/x", "vms:8554/x", "rtmp://user:secret@vms/x", "rtsp:/x"]
)
def test_push_url_must_be_rtsp(url):
    with pytest.raises(ConfigError, match=r"output.rtsp_push must be an rtsp:// or rtsps://"):
        OutputConfig(rtsp_push=url)
    assert OutputConfig(rtsp_push="rtsps://vms/x").rtsp_push == "rtsps://vms/x"


def test_bad_push_scheme_is_one_clear_error(clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code = main(
        [
            "run",
            str(clip),
            "-o",
            str(out),
            "--quiet",
            "--set",
            "output.rtsp_push=http://u:secret@h/x",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.splitlines() == [
        "streamproc: error: output.rtsp_push must be an rtsp:// or rtsps:// URL, "
        "got 'http://***@h/x'"
    ]
    assert not out.exists()


def _packet(index: int, image: np.ndarray) -> FramePacket:
    return FramePacket(index, index * 7500, Fraction(1, 90000), image, time.monotonic())


def test_push_never_blocks_a_server_that_does_not_answer():
    """A server that accepts the connection and never answers: every write returns at
    once (frames dropped and counted), the handshake times out, close() does not hang."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    acceptor = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    acceptor.start()
    url = f"rtsp://user:secret@127.0.0.1:{listener.getsockname()[1]}/x"
    info = SourceInfo("x", 64, 48, Fraction(25), Fraction(1, 90000), 0, False, None)
    source = SourceConfig(open_timeout_s=1.0, reconnect_initial_s=0.2)
    sink = RtspPushSink(url, info, OutputConfig(), source)
    image = np.zeros((48, 64, 3), np.uint8)
    try:
        t0 = time.monotonic()
        for i in range(200):
            sink.write(_packet(i, image))
        assert time.monotonic() - t0 < 0.5
        wait_for(lambda: sink.stats()["last_error"], 10, "the handshake to time out")
    finally:
        t0 = time.monotonic()
        sink.close()
        close_s = time.monotonic() - t0
        listener.close()
        for conn in accepted:
            conn.close()
    stats = sink.stats()
    assert close_s < 3
    assert stats["frames_sent"] == 0 and stats["frames_dropped"] == 200
    assert stats["url"] == url.replace("user:secret@", "***@")
    assert "secret" not in stats["last_error"]
    assert not [t for t in threading.enumerate() if t.name == "streamproc-rtsp-push"]


# -- against the GStreamer RTSP server (RECORD) ------------------------------------------
@pytest.mark.rtsp
@needs_gst
def test_push_is_recorded_by_an_rtsp_server(clip, tmp_path):
    """`streamproc run` pushes its output (with credentials) to the GStreamer server in
    RECORD mode; what the server recorded is the file output's pictures, and the
    credentials are in no output of the run."""
    port = free_port()
    server = RecordServer(tmp_path / "rec.ts", port, USER, PASSWORD).start()
    out = tmp_path / "out.mp4"
    url = f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{port}/cam"
    try:
        t0 = time.monotonic()
        proc = run_cli([str(clip), "-o", str(out), "--set", f"output.rtsp_push={url}"])
        run_s = time.monotonic() - t0
        assert proc.returncode == 0, proc.stderr
        manifest_text = Path(f"{out}.manifest.json").read_text()
        doc = json.loads(manifest_text)
        push = doc["rtsp_push"]
        received = settled_frames(server.record_path(), why=f"(push: {push}; {proc.stderr})")
    finally:
        server.kill()
    written, _, _ = read_frames(out)
    assert len(written) == 36
    assert_same_pictures(received, written)
    assert push["url"] == f"rtsp://***@127.0.0.1:{port}/cam"
    assert doc["config"]["output"]["rtsp_push"] == push["url"]
    assert push["frames_sent"] + push["frames_dropped"] == doc["stats"]["frames_out"] == 36
    assert 0 < len(received) <= push["frames_sent"]
    for text in (proc.stderr, manifest_text, Path(f"{out}.config.yaml").read_text()):
        assert PASSWORD not in text and f"{USER}:" not in text
    assert f"pushed to rtsp://***@127.0.0.1:{port}/cam: {push['frames_sent']} frames" in proc.stderr
    assert _rerun_config(doc)["output"]["rtsp_push"] == ""  # `verify` pushes nothing
    print(f"pushed {push['frames_sent']}, recorded {len(received)}, run {run_s:.1f} s")


@pytest.mark.rtsp
@needs_gst
def test_push_to_a_server_that_is_down_is_a_warning(clip, tmp_path):
    port = free_port()  # nothing listens there
    out = tmp_path / "out.mp4"
    url = f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{port}/cam"
    proc = run_cli([str(clip), "-o", str(out), "--set", f"output.rtsp_push={url}"])
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and PASSWORD not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, proc.stderr
    assert f"rtsp push to rtsp://***@127.0.0.1:{port}/cam: cannot connect" in warnings[0]
    assert "Connection refused" in warnings[0]
    assert len(read_frames(out)[0]) == 36  # the file output is whole
    doc = json.loads(Path(f"{out}.manifest.json").read_text())
    assert doc["status"] == "finished"
    assert doc["rtsp_push"]["frames_sent"] == 0
    assert doc["rtsp_push"]["frames_dropped"] == 36
    assert PASSWORD not in json.dumps(doc)


@pytest.mark.rtsp
@needs_gst
def test_several_cameras_push_to_their_own_paths(tmp_path):
    """Two named inputs and a push URL without {name}: camera "a" is recorded from
    /a, camera "b" from /b, each the pictures of its own output."""
    clips = {}
    for name, faces in (("a", 1), ("b", 2)):
        clips[name] = tmp_path / f"{name}.mp4"
        write_clip(clips[name], n_frames=24, n_faces=faces, face_px=64, fps=12)
    listing = tmp_path / "cams.yaml"
    listing.write_text("".join(f"- {n}: {p}\n" for n, p in clips.items()))
    port = free_port()
    server = RecordServer(tmp_path / "rec.ts", port).start()
    out = tmp_path / "out"
    try:
        proc = run_cli(
            [
                "--inputs",
                str(listing),
                "-o",
                str(out),
                "--set",
                f"output.rtsp_push=rtsp://127.0.0.1:{port}",
            ]
        )
        assert proc.returncode == 0, proc.stderr
        received = {n: settled_frames(server.record_path(n)) for n in clips}
    finally:
        server.kill()
    written = {n: read_frames(out / f"{n}.enhanced.mp4")[0] for n in clips}
    for name in clips:
        assert_same_pictures(received[name], written[name])
        doc = json.loads((out / f"{name}.enhanced.mp4.manifest.json").read_text())
        assert doc["rtsp_push"]["url"] == f"rtsp://127.0.0.1:{port}/{name}"
    # Not the other camera's pictures (the same background, other faces).
    assert max(psnr(received["a"][0], w) for w in written["b"]) < 30
    assert max(psnr(received["b"][0], w) for w in written["a"]) < 30


@pytest.mark.rtsp
@needs_gst
def test_push_reconnects_when_the_server_comes_back(tmp_path):
    """The recorder goes away mid-run and comes back: the pipeline does not wait for it
    (frames are dropped meanwhile), the push reconnects, and the frames after the gap
    are recorded by the new server."""
    clip = tmp_path / "long.mp4"
    write_clip(clip, n_frames=480, n_faces=1, face_px=80, fps=12)
    port = free_port()
    first = RecordServer(tmp_path / "first.ts", port).start()
    second = RecordServer(tmp_path / "second.ts", port)
    config = load_config(
        None,
        [*FAST, f"output.rtsp_push=rtsp://127.0.0.1:{port}/cam", "source.reconnect_initial_s=0.2"],
    )
    job = Job([str(clip)], config, tmp_path / "out.mp4")
    push = rtsp_push(job.pipeline.cameras[0])
    try:
        job.start()
        wait_for(lambda: push.stats()["frames_sent"] >= 10, 30, "first frames pushed")
        first.kill()
        wait_for(lambda: not push.connected, 15, "the push to notice")
        out_before = job.stats.frames_out
        wait_for(lambda: job.stats.frames_out >= out_before + 10, 15, "frames while it is down")
        second.start()
        wait_for(lambda: push.stats()["reconnects"] == 1, 20, "the push to reconnect")
        from streamproc.web.monitor import snapshot

        shown = snapshot(job.pipeline)["cameras"][0]["push"]  # the monitor's and dashboard's
        assert shown["reconnects"] == 1 and shown["url"] == f"rtsp://127.0.0.1:{port}/cam"
        from rich.console import Console

        from streamproc.run.dashboard import Dashboard

        console = Console(record=True, width=250)
        console.print(Dashboard(job.pipeline, "push", 480).render())
        assert f"push rtsp://127.0.0.1:{port}/cam (sent" in console.export_text()
        sent_after = push.stats()["frames_sent"]
        wait_for(lambda: push.stats()["frames_sent"] >= sent_after + 10, 20, "frames after the gap")
        job.pipeline.request_stop()
        (summary,) = job.finish("interrupted")
        received = settled_frames(second.record_path())
    finally:
        job.pipeline.abort.set()
        first.kill()
        second.kill()
    stats = push.stats()
    assert stats["reconnects"] == 1 and stats["frames_dropped"] > 0
    assert stats["frames_sent"] + stats["frames_dropped"] == summary["frames_out"]
    assert len(received) >= 10
    assert not [t for t in threading.enumerate() if t.name == "streamproc-rtsp-push"]


def test_monitor_page_shows_a_push_that_fails(tmp_path):
    """The page's tile says what the push sent and why it fails (masked), in a browser."""
    from test_web_monitor import _browser_missing, launch_chromium

    if _browser_missing() is not None:
        pytest.skip(str(_browser_missing()))
    from playwright.sync_api import sync_playwright

    from streamproc.web.app import MonitorServer

    clip = tmp_path / "long.mp4"
    write_clip(clip, n_frames=240, n_faces=1, face_px=80, fps=12)
    url = f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/cam"  # nothing listens there
    config = load_config(None, [*FAST, f"output.rtsp_push={url}"])
    job = Job([str(clip)], config, tmp_path / "out.mp4", preview=True)
    server = MonitorServer(job.pipeline, "127.0.0.1", 0)
    try:
        job.start()
        with sync_playwright() as pw:
            browser = launch_chromium(pw, tmp_path / "profile")
            try:
                page = browser.new_page()
                page.goto(server.url, wait_until="domcontentloaded")
                stats = page.locator('.tile[data-cam="0"] .camstats')
                wait_for(
                    lambda: "refused" in stats.inner_text(), 30, "the push's error on the tile"
                )
                text = stats.inner_text()
                bad = page.locator('.tile[data-cam="0"] .camstats .bad', has_text="push")
                assert bad.count() == 1, text
            finally:
                browser.close()
    finally:
        job.pipeline.request_stop()
        job.finish("interrupted")
        server.close()
    assert "push sent 0, dropped" in text and PASSWORD not in text
