"""Several cameras in one process (shared detector + enhancer) and the live monitor page."""

from __future__ import annotations

import json
import math
import socket
import threading
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from conftest import FAST, wait_for
from synth import read_frames, write_clip

from streamproc.audit.manifest import manifest_path
from streamproc.core.config import load_config
from streamproc.core.errors import InputError
from streamproc.run.job import Job
from streamproc.web.monitor import snapshot

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _streamproc_threads() -> list[str]:
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("streamproc-") and t.is_alive() and t is not threading.current_thread()
    ]


def _run_to_end(job: Job) -> list[dict]:
    job.start()
    job.pipeline.join(timeout_s=60)
    return job.finish("finished")


@pytest.mark.parametrize("every_n", [1, 2])
def test_two_files_share_one_batched_pipeline(face_clip, silent_clip, tmp_path, every_n):
    clip_a, _ = face_clip
    config = load_config(None, [*FAST, f"detect.every_n_frames={every_n}"])
    job = Job([str(clip_a), str(silent_clip)], config, str(tmp_path))
    summaries = _run_to_end(job)
    view = snapshot(job.pipeline)

    # Files are lossless per camera: frames in == frames out, each into its own output.
    for clip, summary, output in zip([clip_a, silent_clip], summaries, job.outputs, strict=True):
        src_frames, src_pts, _ = read_frames(clip)
        out_frames, out_pts, _ = read_frames(output)
        assert summary["frames_in"] == summary["frames_out"] == len(src_frames)
        assert out_pts == src_pts and out_frames[0].shape == src_frames[0].shape
        manifest = json.loads(manifest_path(output).read_text())
        assert manifest["status"] == "finished"
        assert manifest["input"]["name"] == clip.name
        # Models are recorded as loaded (the stages drop them when closed, before this).
        assert manifest["models"]["generator"]["file"] == "face_lite.onnx"
        assert manifest["camera"]["cameras_in_process"] == 2
        assert [f["index"] for f in manifest["frames"]] == list(range(len(src_frames)))
    assert {p.name for p in job.outputs} == {"faces.enhanced.mp4", "silent.enhanced.mp4"}
    # Frames from both cameras were gathered into shared batches...
    assert view["mean_batch_frames"] > 1.5
    # ...and detection every N frames is counted per camera, not across them.
    n_a, n_b = summaries[0]["frames_out"], summaries[1]["frames_out"]
    detected = math.ceil(n_a / every_n) + math.ceil(n_b / every_n)
    assert view["stages"]["detect"]["frames"] == detected
    assert summaries[0]["faces_enhanced"] >= n_a  # two faces in most frames
    assert summaries[1]["faces_enhanced"] >= n_b // 2
    assert _streamproc_threads() == []


def test_dead_camera_does_not_stop_the_others(face_clip, tmp_path):
    """A camera whose sink fails ends alone; the other camera still writes every frame."""
    clip, _ = face_clip
    job = Job([str(clip), str(clip)], load_config(None, FAST), str(tmp_path))
    assert job.outputs[1].name == "cam1-faces.enhanced.mp4"  # same input twice: unique names
    broken = job.pipeline.cameras[0]

    def fail(_packet) -> None:
        raise OSError("disk gone")

    broken.sinks[0].write = fail
    summaries = _run_to_end(job)
    assert summaries[0]["status"] == "failed" and summaries[0]["frames_out"] == 0
    assert summaries[1]["status"] == "ended" and summaries[1]["frames_out"] == 24
    assert json.loads(manifest_path(job.outputs[0]).read_text())["status"] == "failed"


def _first_jpeg(url: str, timeout_s: float = 10) -> np.ndarray:
    """The first frame of an MJPEG stream, decoded."""
    buf = b""
    with httpx.stream("GET", url, timeout=timeout_s) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
        for chunk in response.iter_bytes():
            buf += chunk
            start, end = buf.find(b"\xff\xd8"), buf.find(b"\xff\xd9")
            if start >= 0 and end > start:
                return cv2.imdecode(np.frombuffer(buf[start : end + 2], np.uint8), 1)
    raise AssertionError("no JPEG in stream")


def test_monitor_endpoints(long_clip, face_clip, tmp_path):
    from streamproc.web.app import MonitorServer

    job = Job([str(long_clip), str(face_clip[0])], load_config(None, FAST), "null", preview=True)
    server = MonitorServer(job.pipeline, "127.0.0.1", 0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        job.start()
        wait_for(lambda: job.pipeline.cameras[0].stats.frames_out >= 5, 20, "camera 0 frames")
        page = httpx.get(server.url, timeout=5)
        assert page.status_code == 200 and "streamproc monitor" in page.text
        stats = httpx.get(server.url + "api/stats", timeout=5).json()
        assert [c["id"] for c in stats["cameras"]] == ["0", "1"]
        assert {"detect", "track", "enhance", "composite"} <= set(stats["stages"])
        enhanced = _first_jpeg(server.url + "cam/0/stream.mjpg?view=enhanced")
        original = _first_jpeg(server.url + "cam/0/stream.mjpg?view=original")
        side = _first_jpeg(server.url + "cam/0/stream.mjpg?view=side")
        assert enhanced.shape == original.shape == (240, 320, 3)
        assert side.shape == (240, 640, 3)
        assert httpx.get(server.url + "cam/0/stream.mjpg?view=bad").status_code == 400
        assert httpx.get(server.url + "cam/7/stream.mjpg").status_code == 404

        def recent_faces() -> list[dict]:
            return httpx.get(server.url + "api/stats").json()["cameras"][0]["recent_faces"]

        wait_for(recent_faces, 20, "the face strip's first crop")
        faces = recent_faces()
        crop = httpx.get(server.url + f"cam/0/face/{faces[0]['track_id']}.jpg")
        assert crop.headers["content-type"] == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(crop.content, np.uint8), 1).ndim == 3
    finally:
        job.pipeline.request_stop()
        try:
            job.finish("interrupted")
        finally:
            server.close()
    assert _streamproc_threads() == []


# -- the page in a real browser, on two live RTSP cameras -------------------------------


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return "chromium not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright not installed (pip install playwright)"
    return None


def launch_chromium(pw, profile: Path, **options):
    """Headless Debian Chromium with a fresh user-data-dir (``profile``): the browser every
    page test drives; ``options`` go to Playwright (e.g. ``viewport``)."""
    return pw.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, **options
    )


def _tile_boxes(page) -> dict[str, dict]:
    return {cam: page.locator(f'.tile[data-cam="{cam}"] img.video').bounding_box() for cam in "01"}


def _screenshot(page) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(page.screenshot(), np.uint8), 1)


def _tile_change(a: np.ndarray, b: np.ndarray, box: dict) -> float:
    x, y, w, h = (int(box[k]) for k in ("x", "y", "width", "height"))
    crop_a, crop_b = a[y : y + h, x : x + w], b[y : y + h, x : x + w]
    return float(np.abs(crop_a.astype(np.int16) - crop_b.astype(np.int16)).mean())


@pytest.mark.rtsp
@pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))
def test_browser_grid_of_two_live_cameras(tmp_path):
    from test_live import RtspServer, _has_gst_rtsp, free_port

    if not _has_gst_rtsp():
        pytest.skip("GStreamer RTSP server not installed")
    from playwright.sync_api import sync_playwright

    from streamproc.web.app import MonitorServer

    cams = []
    for i in range(2):
        clip = tmp_path / f"cam{i}.mp4"
        write_clip(clip, n_frames=300, n_faces=1 + i, face_px=70, fps=12)
        cams.append(RtspServer(clip, free_port()))
    for cam in cams:
        cam.start()
    urls = [f"rtsp://127.0.0.1:{cam.args[3]}/cam" for cam in cams]
    config = load_config(None, [*FAST, "source.reconnect_initial_s=0.2"])
    job = Job(urls, config, str(tmp_path / "out"), preview=True)
    server = MonitorServer(job.pipeline, "127.0.0.1", 0)
    try:
        job.start()
        with sync_playwright() as pw:
            browser = launch_chromium(
                pw, tmp_path / "profile", viewport={"width": 1100, "height": 620}
            )
            try:
                page = browser.new_page()
                page.goto(server.url, wait_until="domcontentloaded")

                def frames(cam: str) -> int:
                    return int(page.get_attribute(f'.tile[data-cam="{cam}"]', "data-frames") or 0)

                def status(cam: str) -> str | None:
                    return page.get_attribute(f'.tile[data-cam="{cam}"]', "data-status")

                wait_for(
                    lambda: page.locator(".tile").count() == 2 and min(frames("0"), frames("1")),
                    20,
                    "both tiles with frames",
                )
                # (live, or slow where a shared CPU cannot keep up with 12 fps)
                assert {status("0"), status("1")} <= {"live", "slow"}
                boxes = _tile_boxes(page)
                before_text = page.inner_text(".tile[data-cam='1'] .camstats")
                for cam, box in boxes.items():
                    assert box["width"] > 200, f"tile {cam} has a video area"
                    video = page.locator(f'.tile[data-cam="{cam}"] img.video')
                    wait_for(
                        lambda video=video: video.evaluate("img => img.naturalWidth > 0"),
                        20,
                        f"tile {cam} showing its first frame",
                    )
                    reference = _screenshot(page)
                    wait_for(
                        lambda ref=reference, box=box: (
                            _tile_change(ref, _screenshot(page), box) > 0.5
                        ),
                        20,
                        f"tile {cam} moving",
                    )
                wait_for(
                    lambda: page.inner_text(".tile[data-cam='1'] .camstats") != before_text,
                    10,
                    "camera 1's stats updating",
                )
                assert page.locator("#stages tbody tr").count() >= 4  # per-stage stats

                cams[0].kill()  # camera 0 goes dark; camera 1 must carry on
                wait_for(lambda: status("0") == "reconnecting", 15, "camera 0 reconnecting")
                frames_1 = frames("1")
                wait_for(lambda: frames("1") > frames_1, 15, "camera 1 still recording")
                assert status("1") in ("live", "slow")
                assert page.inner_text(".tile[data-cam='0'] .status").lower() == "reconnecting"
            finally:
                browser.close()
    finally:
        job.pipeline.request_stop()
        try:
            summaries = job.finish("interrupted")
        finally:
            server.close()
            for cam in cams:
                cam.kill()
    assert summaries[1]["frames_out"] > summaries[0]["frames_out"] > 0
    assert _streamproc_threads() == []


def test_cli_runs_several_inputs(face_clip, silent_clip, tmp_path):
    from streamproc.run.cli import main

    listing = tmp_path / "cams.yaml"
    listing.write_text(f"- {silent_clip}\n")
    code = main(
        ["run", str(face_clip[0]), "--inputs", str(listing), "-o", str(tmp_path), "--quiet"]
        + [arg for kv in FAST for arg in ("--set", kv)]
    )
    assert code == 0
    for name, n in (("faces.enhanced.mp4", 24), ("silent.enhanced.mp4", 12)):
        assert len(read_frames(tmp_path / name)[0]) == n


def test_serve_as_its_own_process(long_clip, tmp_path):
    """`streamproc run A B --serve` as a user starts it: loopback, live stats, a camera that
    cannot be opened shown as failed, Ctrl-C -> exit 130 with finished files."""
    import signal
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-m",
        "streamproc.run.cli",
        "run",
        str(long_clip),
        str(tmp_path / "gone"),
    ]
    cmd += ["--serve", "--port", "0", "-o", str(tmp_path / "out"), "--quiet"]
    cmd += [arg for kv in FAST for arg in ("--set", kv)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any("monitor at" in line for line in lines):
            line = proc.stderr.readline()
            assert line, f"no monitor URL: {lines}"
            lines.append(line)
        url = lines[-1].split("monitor at", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
        stats: dict = {}

        def frames_served() -> int:
            stats.update(httpx.get(url + "api/stats", timeout=5).json())
            return stats["cameras"][0]["frames_out"]

        wait_for(frames_served, 60, "frames through the served pipeline")
        assert [(c["id"], c["status"]) for c in stats["cameras"]][1] == ("1", "failed")
        assert "gone" in stats["cameras"][1]["error"]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    output = tmp_path / "out" / "long.enhanced.mp4"
    assert json.loads(manifest_path(output).read_text())["status"] == "interrupted"
    assert len(read_frames(output)[0]) >= stats["cameras"][0]["frames_out"]


def test_unopenable_camera_is_skipped_only_when_asked(face_clip, tmp_path):
    clip, _ = face_clip
    specs = [str(tmp_path / "gone.mp4"), str(clip)]
    config = load_config(None, FAST)
    with pytest.raises(InputError, match="gone.mp4"):
        Job(specs, config, str(tmp_path / "strict"))
    job = Job(specs, config, str(tmp_path / "lenient"), skip_unopenable=True)
    summaries = _run_to_end(job)
    assert [cam.id for cam in job.pipeline.cameras] == ["1"]
    assert summaries[0]["frames_out"] == 24
    gone, ok = snapshot(job.pipeline)["cameras"]  # in input order
    assert gone["id"] == "0" and gone["status"] == "failed" and "gone.mp4" in gone["error"]
    assert ok["status"] == "ended"
    with pytest.raises(InputError):  # no camera at all: still an error
        Job(specs[:1], config, str(tmp_path / "none"), skip_unopenable=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_mjpeg_preview_for_each_of_several_inputs(silent_clip, tmp_path, monkeypatch, capsys):
    """``output.mjpeg_port`` with several inputs: one server (the monitor's), camera N at
    ``/cam/N/stream.mjpg`` and the first camera at ``/stream.mjpg`` too, as with one input."""
    from streamproc.run.cli import main
    from streamproc.web.preview import Preview

    small = tmp_path / "small.mp4"
    write_clip(small, n_frames=12, width=160, height=120, face_px=48)
    port = _free_port()
    paths = ("/stream.mjpg", "/cam/0/stream.mjpg", "/cam/1/stream.mjpg")
    seen = {path: threading.Event() for path in paths}
    shots: dict[str, np.ndarray | BaseException] = {}
    publish = Preview.publish

    def held_publish(self, packet, original) -> None:
        publish(self, packet, original)  # then hold every camera until each viewer has a
        for event in seen.values():  # frame, so that the run cannot end first
            event.wait(60)

    def view(path: str) -> None:
        try:
            shots[path] = _first_jpeg(f"http://127.0.0.1:{port}{path}", timeout_s=60)
        except (httpx.HTTPError, AssertionError) as err:
            shots[path] = err
        finally:
            seen[path].set()

    def connectable() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    def start_viewers() -> None:
        wait_for(connectable, 60, f"preview port {port}")
        for path in paths:
            threading.Thread(target=view, args=(path,), name="test-viewer", daemon=True).start()

    monkeypatch.setattr(Preview, "publish", held_publish)
    starter = threading.Thread(target=start_viewers, name="test-viewers", daemon=True)
    starter.start()
    args = ["run", str(silent_clip), str(small), "-o", str(tmp_path / "out")]
    code = main(
        [*args, "--set", f"output.mjpeg_port={port}", *(a for kv in FAST for a in ("--set", kv))]
    )
    starter.join(5)
    err = capsys.readouterr().err
    assert code == 0, err
    assert shots["/stream.mjpg"].shape == (240, 320, 3), shots["/stream.mjpg"]  # camera 0
    assert shots["/cam/0/stream.mjpg"].shape == (240, 320, 3), shots["/cam/0/stream.mjpg"]
    assert shots["/cam/1/stream.mjpg"].shape == (120, 160, 3), shots["/cam/1/stream.mjpg"]
    for cam in (0, 1):
        url = f"http://127.0.0.1:{port}/cam/{cam}/stream.mjpg"
        assert f"camera cam{cam} preview at {url}" in err, err
    assert _streamproc_threads() == []


@pytest.mark.parametrize("n_inputs", [1, 2])
def test_cli_max_batch_limits_the_faces_gathered(face_clip, tmp_path, monkeypatch, n_inputs):
    """``enhance.max_batch``: an enhance call stops taking frames once it holds that many
    faces, with one input and with several (two faces a frame here, so at most 2 frames)."""
    from streamproc.run.cli import main
    from streamproc.vision.enhance.stage import EnhanceStage

    calls: list[list[int]] = []
    process = EnhanceStage.process

    def recording(self, packets):
        calls.append([len(p.faces) for p in packets])
        return process(self, packets)

    monkeypatch.setattr(EnhanceStage, "process", recording)
    sets = [*FAST, "enhance.max_batch=3", "enhance.max_batch_frames=8", "enhance.max_wait_ms=1000"]
    inputs = [str(face_clip[0])] * n_inputs
    output = tmp_path / ("out.mp4" if n_inputs == 1 else "out")
    code = main(
        ["run", *inputs, "-o", str(output), "--quiet"] + [a for kv in sets for a in ("--set", kv)]
    )
    assert code == 0
    assert sum(len(c) for c in calls) == 24 * n_inputs  # every frame, once
    # A long max_wait_ms: every call but the last waits for the frames that fill it...
    assert max(sum(c) for c in calls) >= 3, calls
    over = [c for c in calls if sum(c[:-1]) >= 3]
    assert not over, f"calls that went on gathering past 3 faces: {over}"  # ...not past it


def test_cli_abort_of_several_inputs_keeps_counters_single_writer(
    face_clip, silent_clip, tmp_path, monkeypatch, capsys
):
    """Ctrl-C twice (abort) while camera 0's writer is stuck with a full queue: every
    counter was written by one thread only (stats.py needs no locks because of that), and
    a file input dropped nothing (frames left unwritten by an abort are not drops)."""
    import os
    import signal

    from streamproc.core import stats
    from streamproc.core.pipeline import Pipeline
    from streamproc.io.sinks.file import FileSink
    from streamproc.run.cli import main

    writers: dict[tuple[int, str], set[str]] = {}

    def recording_setattr(self, name: str, value: object) -> None:
        thread = threading.current_thread()
        # Updates only (a first write is the object being built); main: before start or
        # after join.
        if name in self.__dict__ and thread is not threading.main_thread():
            writers.setdefault((id(self), f"{type(self).__name__}.{name}"), set()).add(thread.name)
        object.__setattr__(self, name, value)

    monkeypatch.setattr(stats.PipelineStats, "__setattr__", recording_setattr)
    monkeypatch.setattr(stats.StageStats, "__setattr__", recording_setattr)
    pipelines: list[Pipeline] = []
    start = Pipeline.start

    def recording_start(self) -> None:
        pipelines.append(self)
        start(self)

    monkeypatch.setattr(Pipeline, "start", recording_start)
    release, stuck = threading.Event(), threading.Event()
    written: dict[str, int] = {}
    write = FileSink.write

    def stuck_write(self, packet) -> None:
        if self.path.name == "faces.enhanced.mp4":  # camera 0 stops at its first frame
            stuck.set()
            release.wait(60)
        write(self, packet)
        written[self.path.name] = written.get(self.path.name, 0) + 1

    monkeypatch.setattr(FileSink, "write", stuck_write)

    def interrupt_twice() -> None:
        try:
            wait_for(lambda: stuck.is_set() and written.get("silent.enhanced.mp4") == 12, 60, "1")
            # One signal at a time: two pending SIGINTs would be handled as one.
            os.kill(os.getpid(), signal.SIGINT)
            wait_for(lambda: pipelines[0].stop.is_set(), 10, "the stop")
            os.kill(os.getpid(), signal.SIGINT)
            wait_for(lambda: pipelines[0].abort.is_set(), 10, "the abort")
        finally:
            release.set()

    helper = threading.Thread(target=interrupt_twice, name="test-interrupt", daemon=True)
    helper.start()
    out = tmp_path / "out"
    sets = [*FAST, "pipeline.queue_frames=2"]
    code = main(
        ["run", str(face_clip[0]), str(silent_clip), "-o", str(out), "--quiet"]
        + [a for kv in sets for a in ("--set", kv)]
    )
    release.set()
    helper.join(10)
    assert code == 130, capsys.readouterr().err
    stuck_doc = json.loads(manifest_path(out / "faces.enhanced.mp4").read_text())
    done_doc = json.loads(manifest_path(out / "silent.enhanced.mp4").read_text())
    assert stuck_doc["status"] == "interrupted" and stuck_doc["stats"]["dropped"] == 0
    assert done_doc["stats"]["frames_out"] == 12 and done_doc["stats"]["dropped"] == 0
    shared = {field: names for (_, field), names in writers.items() if len(names) > 1}
    assert not shared, f"counters written by more than one thread: {shared}"
    assert {f for _, f in writers} >= {"PipelineStats.frames_in", "StageStats.frames"}
    assert _streamproc_threads() == []
