"""The operator's view (issue #16): a marker that never hides a face and never blinks."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import FAST, wait_for
from test_web_monitor import _browser_missing

from streamproc.core.config import CompositeConfig, EnhanceConfig, TrackConfig
from streamproc.core.packet import Face, FramePacket
from streamproc.vision.composite import (
    ENHANCER_BGR,
    Compositor,
    bracket_bounds,
    bracket_rects,
)
from streamproc.vision.enhance.crops import extract, square_box
from streamproc.vision.enhance.stage import EnhanceStage
from streamproc.vision.track import FaceTracker


def _scene(seed: int = 0, size=(240, 320)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 200, (*size, 3), dtype=np.uint8)


def _enhanced_face(image: np.ndarray, box, enhancer: str = "generator", track_id=-1) -> Face:
    face = Face(box_xyxy=np.array(box, np.float32), score=0.9, track_id=track_id)
    face.crop_box = square_box(face.box_xyxy, 0.3)
    face.crop = extract(image, face.crop_box)
    face.enhanced = 255 - face.crop  # a change visible in every pixel
    face.enhancer = enhancer
    return face


def _composite(image: np.ndarray, faces: list[Face], **config) -> np.ndarray:
    packet = FramePacket(index=0, pts=0, time_base=1, image=image, capture_s=0.0, faces=faces)
    return Compositor(CompositeConfig(**config)).process([packet])[0].image


def _bracket_pixels(image: np.ndarray, face: Face, bgr) -> int:
    """Pixels of colour ``bgr`` on the face's bracket bars."""
    hits = 0
    for x1, y1, x2, y2 in bracket_rects(face.box_xyxy):
        bars = image[max(0, y1) : y2, max(0, x1) : x2]
        hits += int((bars == bgr).all(axis=2).sum())
    return hits


@pytest.mark.parametrize("face_px", [14, 16, 40])
@pytest.mark.parametrize("enhancer", ["generator", "classical", "classical+generator"])
def test_marker_never_covers_the_face(face_px, enhancer):
    image = _scene()
    box = (150.3, 100.6, 150.3 + face_px, 100.6 + face_px)
    marked = _composite(image.copy(), [_enhanced_face(image, box, enhancer)])
    unmarked = _composite(image.copy(), [_enhanced_face(image, box, enhancer)], marker=False)
    x1, y1, x2, y2 = int(box[0]), int(box[1]), int(np.ceil(box[2])), int(np.ceil(box[3]))
    # Every pixel of the face box is the pasted face, exactly as without a marker.
    np.testing.assert_array_equal(marked[y1:y2, x1:x2], unmarked[y1:y2, x1:x2])
    # The brackets are there, all of them, in the enhancer's colour.
    face = Face(box_xyxy=np.array(box, np.float32), score=0.9)
    bars = sum((r[2] - r[0]) * (r[3] - r[1]) for r in bracket_rects(face.box_xyxy))
    assert _bracket_pixels(marked, face, ENHANCER_BGR[enhancer]) >= bars * 0.9
    # ...and they hug the face: within a third of its size on each side.
    bx1, by1, bx2, by2 = bracket_bounds(face.box_xyxy)
    assert x1 - bx1 <= max(4, face_px / 3) and bx2 - x2 <= max(4, face_px / 3)


def _badge_region(image: np.ndarray, plain: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box of what the badge changed (pixels changed far from any face)."""
    changed = (image != plain).any(axis=2)
    ys, xs = np.nonzero(changed)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize("size", [(240, 320), (1080, 1920)])
def test_badge_counts_faces_scales_with_the_frame_and_avoids_faces(size):
    h, w = size
    image = _scene(1, size)
    # A face in the top-right corner: the badge must go to another corner.
    s = h // 10
    boxes = [(w - s - 4, 4, w - 4, 4 + s), (w // 2, h // 2, w // 2 + s, h // 2 + s)]
    faces = [_enhanced_face(image, b) for b in boxes]
    out = _composite(image.copy(), faces)
    plain = _composite(image.copy(), [_enhanced_face(image, b) for b in boxes], marker=False)
    for face in faces:  # mask out the brackets; what is left is the badge
        x1, y1, x2, y2 = bracket_bounds(face.box_xyxy)
        plain[max(0, y1) : y2, max(0, x1) : x2] = out[max(0, y1) : y2, max(0, x1) : x2]
    bx1, by1, bx2, by2 = _badge_region(out, plain)
    assert bx1 < w / 2 and by1 < h / 2, "top-left: the top-right corner holds a face"
    assert (by2 - by1) >= max(10, 0.03 * h), "legible: ~3.5% of the frame tall"
    for face in faces:
        fx1, fy1, fx2, fy2 = bracket_bounds(face.box_xyxy)
        assert fx2 <= bx1 or bx2 <= fx1 or fy2 <= by1 or by2 <= fy1, "badge over a face"


def test_no_badge_and_no_brackets_without_an_enhanced_face():
    image = _scene()
    face = Face(box_xyxy=np.array((100, 100, 116, 116), np.float32), score=0.9)
    out = _composite(image.copy(), [face])
    np.testing.assert_array_equal(out, image)


def test_investigate_mode_draws_the_track_id_clear_of_the_marker():
    image = _scene()
    face = _enhanced_face(image, (150, 100, 166, 116), track_id=7)
    with_ids = _composite(image.copy(), [face], draw_boxes=True)
    face = _enhanced_face(image, (150, 100, 166, 116), track_id=7)
    without = _composite(image.copy(), [face])
    # Every bracket pixel is still the enhancer's colour with ids drawn.
    bgr = ENHANCER_BGR["generator"]
    assert _bracket_pixels(with_ids, face, bgr) == _bracket_pixels(without, face, bgr) > 0
    # The id went somewhere (above the brackets).
    bx1, by1, bx2, _ = bracket_bounds(face.box_xyxy)
    assert (with_ids[:by1, bx1 : bx2 + 20] != without[:by1, bx1 : bx2 + 20]).any()


class _FixedDetector:
    """Stands in for YOLO: on detection frames, the given boxes with the given score."""

    def __init__(self, boxes, score: float) -> None:
        self.boxes, self.score = boxes, score

    def __call__(self, packet: FramePacket, index: int) -> None:
        packet.detected = True
        packet.faces = [
            Face(box_xyxy=np.array(b, np.float32) + [index, 0, index, 0], score=self.score)
            for b in self.boxes
        ]


@pytest.mark.parametrize(
    "score", [0.9, 0.3], ids=["tracked", "never-confirmed (below new_track_thresh)"]
)
def test_tiny_face_is_enhanced_and_marked_on_every_frame(score):
    """detect every 2nd frame (the default): a 16 px face must not blink at half the rate."""
    boxes = [(60, 80, 76, 96), (200, 120, 216, 136)]
    detector = _FixedDetector(boxes, score)
    tracker = FaceTracker(TrackConfig())
    enhancer = EnhanceStage(EnhanceConfig(mode="classical"))
    compositor = Compositor(CompositeConfig())
    for index in range(12):
        image = _scene(index)
        packet = FramePacket(index=index, pts=index, time_base=1, image=image, capture_s=0.0)
        if index % 2 == 0:
            detector(packet, index)
        (packet,) = tracker.process([packet])
        (packet,) = enhancer.process([packet])
        (packet,) = compositor.process([packet])
        assert len(packet.faces) == 2, f"frame {index}: faces carried"
        for face in packet.faces:
            assert face.enhanced is not None, f"frame {index}: face enhanced"
            hits = _bracket_pixels(packet.image, face, ENHANCER_BGR["classical"])
            assert hits > 20, f"frame {index}: face marked"


def test_tracked_face_stays_marked_when_the_enhancer_skips_a_frame():
    """auto mode leaves a face below auto_min_face_px alone; a track that shrinks across
    the band edge for a frame keeps its marker rather than blinking."""
    compositor = Compositor(CompositeConfig())
    image = _scene()
    face = _enhanced_face(image, (100, 100, 116, 116), "generator", track_id=3)
    packet = FramePacket(index=0, pts=0, time_base=1, image=image, capture_s=0.0, faces=[face])
    compositor.process([packet])
    skipped = Face(box_xyxy=np.array((101, 100, 117, 116), np.float32), score=0.9, track_id=3)
    image = _scene(1)
    packet = FramePacket(index=1, pts=1, time_base=1, image=image, capture_s=0.0, faces=[skipped])
    compositor.process([packet])
    assert _bracket_pixels(packet.image, skipped, ENHANCER_BGR["generator"]) > 20
    other = Face(box_xyxy=np.array((101, 100, 117, 116), np.float32), score=0.9, track_id=4)
    image = _scene(2)
    packet = FramePacket(index=2, pts=2, time_base=1, image=image, capture_s=0.0, faces=[other])
    compositor.process([packet])
    np.testing.assert_array_equal(packet.image, _scene(2))  # never enhanced: never marked


# -- health signals, names, the end of a run ----------------------------------------------


def _stub_camera(status: str, frames_in: int, frames_out: int, dropped=0, fps=12, error=None):
    from types import SimpleNamespace

    from streamproc.core.stats import PipelineStats

    stats = PipelineStats(frames_in=frames_in, frames_out=frames_out, dropped=dropped)
    source = SimpleNamespace(info=SimpleNamespace(fps=fps), last_error=error)
    written_all = frames_out + dropped >= frames_in  # as Camera.written_all
    return SimpleNamespace(
        status=status, stats=stats, source=source, error=None, written_all=written_all
    )


def test_health_says_slow_finishing_and_why():
    from streamproc.web.monitor import camera_health

    slow = camera_health(_stub_camera("live", 900, 60, dropped=800), 0.8, 0.0)
    assert slow["status"] == "slow" and "0.8 of 12 fps" in slow["reason"]
    assert "800 frames dropped" in slow["reason"]
    assert camera_health(_stub_camera("live", 900, 890), 11.5, 0.0)["status"] == "live"
    queued = camera_health(_stub_camera("ended", 24, 20), None, 0.0)
    assert queued["status"] == "finishing" and queued["reason"] == "4 frames queued"
    assert camera_health(_stub_camera("ended", 24, 24), None, 0.0)["status"] == "ended"
    never = camera_health(_stub_camera("ended", 0, 0, error="Connection refused"), None, 0)
    assert never["reason"] == "never connected: Connection refused"
    down = camera_health(_stub_camera("reconnecting", 5, 5, error="stream lost: EOF"), 0, 0)
    assert down["reason"] == "stream lost: EOF" and down["error"] == "stream lost: EOF"


def test_rate_meter_reports_the_recent_rate_not_the_average():
    from streamproc.web.monitor import RateMeter

    meter = RateMeter(window_s=5.0)
    frames = 0
    for tenth in range(0, 600):  # 50 s at 12 fps, then 10 s at 1 fps
        frames += 12 / 10 if tenth < 500 else 1 / 10
        fps = meter.fps("0", int(frames), tenth / 10)
    assert fps is not None and fps < 1.5  # the average since the start is ~10 fps


def test_inputs_yaml_names_cameras(tmp_path):
    from streamproc.core.errors import StreamprocError
    from streamproc.run.cli import _read_inputs
    from streamproc.web.monitor import default_names

    listing = tmp_path / "cams.yaml"
    listing.write_text("- front-door: rtsp://u:p@cam1/stream\n- /data/a.mp4\n- /data/a.mp4\n")
    specs, names = _read_inputs(listing)
    assert specs == ["rtsp://u:p@cam1/stream", "/data/a.mp4", "/data/a.mp4"]
    assert default_names(names) == ["front-door", "cam1", "cam2"]
    listing.write_text("yard: /data/y.mp4\ngate: /data/g.mp4\n")
    assert _read_inputs(listing) == (["/data/y.mp4", "/data/g.mp4"], ["yard", "gate"])
    listing.write_text("- a: /x.mp4\n- a: /y.mp4\n")
    with pytest.raises(StreamprocError, match="same name"):
        _read_inputs(listing)


def test_unreachable_camera_says_why_with_credentials_masked(face_clip, tmp_path):
    """A camera that refuses connections: 'connecting', the refusal as its reason and in
    /api/stats' error, never the password; the file beside it runs and is named."""
    from test_live import free_port

    from streamproc.core.config import load_config
    from streamproc.run.job import Job
    from streamproc.web.monitor import default_names, name_cameras, snapshot

    dead = f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/cam"
    specs = [str(face_clip[0]), dead, str(face_clip[0])]
    job = Job(specs, load_config(None, FAST), "null", skip_unopenable=True)
    name_cameras(job.pipeline, default_names([None, "gate", None]))
    try:
        job.start()
        wait_for(lambda: job.pipeline.cameras[0].stats.frames_out == 24, 60, "the file")
        cams = snapshot(job.pipeline)["cameras"]
        assert [c["name"] for c in cams] == ["cam0", "gate", "cam2"]  # same file: two names
        gate = cams[1]
        assert gate["status"] == "connecting", gate
        assert "refused" in gate["reason"].lower() and gate["error"] == gate["reason"]
        assert "s3cret" not in json.dumps(cams) and "***@127.0.0.1" in gate["source"]
        assert gate["last_frame_age_s"] is None
        assert cams[0]["last_frame_age_s"] is not None
    finally:
        job.pipeline.request_stop()
        job.finish("interrupted")


def test_a_file_that_had_ended_is_not_interrupted_by_the_stop(face_clip, long_clip, tmp_path):

    from streamproc.audit.manifest import manifest_path
    from streamproc.core.config import load_config
    from streamproc.run.job import Job

    job = Job([str(face_clip[0]), str(long_clip)], load_config(None, FAST), str(tmp_path))
    short = job.pipeline.cameras[0]
    job.start()
    try:
        wait_for(lambda: short.stats.frames_out == 24, 60, "the short file written")
        wait_for(lambda: short.stats.finished_s is not None, 10, "the short writer's end")
        long_cam = job.pipeline.cameras[1]
        written = long_cam.stats.frames_out
        wait_for(lambda: long_cam.stats.frames_out > written + 5, 60, "the long file going on")
    finally:
        job.pipeline.request_stop()  # Ctrl-C while the long one still runs
        job.finish("interrupted")
    docs = [json.loads(manifest_path(p).read_text()) for p in job.outputs]
    assert [d["status"] for d in docs] == ["finished", "interrupted"]
    # The short file's time (and fps) ran to its own end, not to the stop.
    assert docs[0]["stats"]["elapsed_s"] < docs[1]["stats"]["elapsed_s"]


# -- the terminal dashboard, in a real terminal (tmux), with a camera that drops ---------


def _tmux_missing() -> str | None:
    import shutil

    return None if shutil.which("tmux") else "tmux not installed"


@pytest.mark.rtsp
@pytest.mark.skipif(_tmux_missing() is not None, reason=str(_tmux_missing()))
def test_dashboard_in_tmux_shows_reconnecting_and_no_stray_lines(tmp_path):
    import os
    import shlex
    import subprocess
    import sys

    from synth import write_clip
    from test_live import RtspServer, _has_gst_rtsp, free_port

    if not _has_gst_rtsp():
        pytest.skip("GStreamer RTSP server not installed")
    clip = tmp_path / "cam.mp4"
    write_clip(clip, n_frames=240, n_faces=1, face_px=80, fps=12)
    camera = RtspServer(clip, free_port())
    camera.start()
    url = f"rtsp://127.0.0.1:{camera.args[3]}/cam"
    sets = [*FAST, "source.reconnect_initial_s=0.2", "source.watchdog_s=2"]
    cmd = [sys.executable, "-m", "streamproc.run.cli", "run", url, "-o", str(tmp_path / "o.mp4")]
    cmd += [a for kv in sets for a in ("--set", kv)]
    shell = f"{shlex.join(cmd)}; echo EXIT=$?; sleep 60"
    tmux = ["tmux", "-L", f"streamproc-test-{os.getpid()}"]  # a server of our own
    subprocess.run([*tmux, "new-session", "-d", "-s", "t", "-x", "150", "-y", "50", shell],
                   check=True, env=os.environ.copy())  # fmt: skip

    def pane() -> str:
        out = subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", "t", "-S", "-500"], capture_output=True, text=True
        )
        return out.stdout

    try:
        wait_for(lambda: "[live]" in pane(), 90, "the dashboard with the camera live")
        camera.kill()  # the camera drops
        wait_for(lambda: "[reconnecting]" in pane(), 30, "[reconnecting] on the dashboard")
        camera.start()  # and comes back
        wait_for(lambda: "reconnected after" in pane(), 30, "the reconnect logged")
        wait_for(lambda: "[live]" in pane(), 30, "live again")
        running = pane()  # the display while it runs, after an outage and its log lines
        subprocess.run([*tmux, "send-keys", "-t", "t", "C-c"], check=True)
        wait_for(lambda: "EXIT=" in pane(), 60, "the run to end")
        text = pane()
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        camera.kill()
    (tmp_path / "pane.txt").write_text(text)  # what the operator saw, for a failing run
    assert "EXIT=130" in text, text
    assert "Traceback" not in text
    # While it ran: the log lines went above the display, once each, and the display
    # left no stray header lines behind (the issue: stacks of them under warnings).
    lines = running.splitlines()
    assert sum("stream lost" in line for line in lines) == 1, running
    assert sum("reconnected after" in line for line in lines) == 1, running
    assert sum("streamproc - " in line for line in lines) == 1, running
    # The camera row counts the reconnect.
    lines = text.splitlines()
    row = next(line for line in lines if line.lstrip().startswith("rtsp://127.0.0.1"))
    assert " 1 " in row, row


# -- the monitor: up before the models load, up after the inputs end -----------------------


def test_serve_is_up_at_once_and_stays_up_after_the_files_end(face_clip, tmp_path):
    """`run A A --serve`: the monitor answers as soon as its URL is printed (before the
    models load), keeps serving after both files end, and Ctrl-C then exits 0 with both
    files finished (they were, before the Ctrl-C)."""
    import signal
    import subprocess
    import sys

    import httpx

    from streamproc.audit.manifest import manifest_path

    clip = str(face_clip[0])
    cmd = [sys.executable, "-m", "streamproc.run.cli", "run", clip, clip, "--serve"]
    cmd += ["--port", "0", "-o", str(tmp_path / "out"), *(a for kv in FAST for a in ("--set", kv))]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert "monitor at" in line, line
        url = line.split("monitor at", 1)[1].strip()
        first = httpx.get(url + "api/stats", timeout=5).json()  # at once: no models yet
        assert [c["name"] for c in first["cameras"]] == ["cam0", "cam1"]
        assert httpx.get(url, timeout=5).status_code == 200
        lines = []
        while not any("monitor stays" in x for x in lines):
            lines.append(proc.stderr.readline())
            assert lines[-1], f"the run ended without keeping the monitor: {lines}"
        stats = httpx.get(url + "api/stats", timeout=5).json()
        assert [(c["name"], c["status"], c["frames_out"]) for c in stats["cameras"]] == [
            ("cam0", "ended", 24),
            ("cam1", "ended", 24),
        ]
        summary = "".join(lines)
        assert "camera cam0 (faces.mp4) finished: 24 frames" in summary, summary
        assert "camera cam1 (faces.mp4) finished: 24 frames" in summary, summary
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    for name in ("faces.enhanced.mp4", "cam1-faces.enhanced.mp4"):
        doc = json.loads(manifest_path(tmp_path / "out" / name).read_text())
        assert doc["status"] == "finished"


def test_serve_camera_that_never_connects_leaves_only_its_manifest(face_clip, tmp_path):
    """`run FILE DEAD --serve -o DIR` (DIR exists, so each output is reserved at start):
    after Ctrl-C the camera that never connected has no video and no config in DIR, only
    its manifest, which says why; the file camera has all three."""
    import signal
    import subprocess
    import sys

    import httpx
    from test_live import free_port

    from streamproc.audit.manifest import manifest_path

    out = tmp_path / "out"
    out.mkdir()
    dead = f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/cam"
    cmd = [sys.executable, "-m", "streamproc.run.cli", "run", str(face_clip[0]), dead]
    cmd += ["--serve", "--port", "0", "-o", str(out), *(a for kv in FAST for a in ("--set", kv))]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert "monitor at" in line, line
        url = line.split("monitor at", 1)[1].strip()

        def cameras() -> list[tuple[str, str]]:
            stats = httpx.get(url + "api/stats", timeout=5).json()
            return [(c["status"], c["reason"] or "") for c in stats["cameras"]]

        wait_for(
            lambda: [s for s, _ in cameras()] == ["ended", "connecting"], 60, "the file to end"
        )
        assert "refused" in cameras()[1][1].lower()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    names = sorted(p.name for p in out.iterdir())
    dead_names = [n for n in names if n.startswith("127-0-0-1-cam-")]
    assert len(dead_names) == 1 and dead_names[0].endswith(".mp4.manifest.json"), names
    assert sorted(set(names) - set(dead_names)) == [
        "faces.enhanced.mp4",
        "faces.enhanced.mp4.config.yaml",
        "faces.enhanced.mp4.manifest.json",
    ]
    doc = json.loads((out / dead_names[0]).read_text())
    assert (doc["status"], doc["outputs"], doc["stats"]["frames_in"]) == ("interrupted", [], 0)
    assert doc["error"].startswith("never connected: ") and "refused" in doc["error"].lower()
    assert "s3cret" not in doc["error"]
    good = json.loads(manifest_path(out / "faces.enhanced.mp4").read_text())
    assert (good["status"], good["error"], good["stats"]["frames_out"]) == ("finished", None, 24)
    assert "nothing written (no frames)" in err


@pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))
def test_browser_page_before_models_after_the_end_a_dead_camera_and_face_events(
    face_clip, tmp_path
):
    from playwright.sync_api import sync_playwright
    from test_live import free_port
    from test_web_monitor import launch_chromium

    from streamproc.core.config import load_config
    from streamproc.run.job import Job
    from streamproc.web.app import MonitorServer, MonitorState
    from streamproc.web.monitor import name_cameras

    dead = f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/cam"
    specs, names = [str(face_clip[0]), dead], ["door", "gate"]
    state = MonitorState(names, specs)
    server = MonitorServer(state, "127.0.0.1", 0)
    job = None
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(
                pw, tmp_path / "profile", viewport={"width": 1100, "height": 700}
            )
            try:
                page = browser.new_page()
                face_requests: list[str] = []
                page.on(
                    "request",
                    lambda r: face_requests.append(r.url) if "/face/" in r.url else None,
                )
                page.goto(server.url, wait_until="domcontentloaded")

                def tile(cam: str, what: str = "") -> str:
                    return f'.tile[data-cam="{cam}"] {what}'.strip()

                def status(cam: str) -> str | None:
                    return page.get_attribute(tile(cam), "data-status")

                def shows_frame(cam: str) -> bool:
                    return page.locator(tile(cam, "img.video")).evaluate(
                        "img => img.complete && img.naturalWidth > 0"
                    )

                # Before the pipeline exists (models loading): both tiles, "starting".
                wait_for(lambda: page.locator(".tile").count() == 2, 20, "two tiles")
                assert status("0") == status("1") == "starting"
                assert "loading models" in page.inner_text(tile("0", ".reason"))
                assert page.inner_text(tile("1", ".name")) == "gate"

                job = Job(
                    specs, load_config(None, FAST), "null", preview=True, skip_unopenable=True
                )
                name_cameras(job.pipeline, names)
                state.attach(job.pipeline)
                job.start()
                wait_for(lambda: status("0") == "ended", 60, "the file camera to end")
                wait_for(lambda: shows_frame("0"), 20, "the file camera's last frame")
                # The camera that cannot connect says why, without its password.
                assert status("1") == "connecting"
                reason = page.inner_text(tile("1", ".reason"))
                assert "refused" in reason.lower(), reason
                assert "s3cret" not in page.content()
                assert "***@127.0.0.1" in page.inner_text(tile("1", ".source"))

                # The face events: one per track (two faces in 24 frames: two events, or a
                # few more after an id switch), and a click enlarges one, original beside
                # enhanced.
                def events() -> int:
                    return page.locator(tile("0", ".faces figure")).count()

                wait_for(lambda: events() >= 2, 10, "an event per face")
                assert events() <= 4, "one per track, not one per frame (48 enhanced crops)"
                # Polls with no news leave the strip alone: no rebuild, no image fetched twice.
                page.locator(tile("0", ".faces figure")).first.evaluate("f => f.id = 'probe'")
                for _ in range(3):
                    summary = page.inner_text("#summary")
                    wait_for(lambda s=summary: page.inner_text("#summary") != s, 10, "a poll")
                assert page.locator("#probe").count() == 1
                assert face_requests and len(face_requests) == len(set(face_requests))
                page.locator(tile("0", ".faces figure")).first.click()
                wait_for(lambda: page.is_visible("#enlarged"), 10, "the enlarged face")
                for kind in ("original", "enhanced"):
                    wait_for(
                        lambda kind=kind: page.locator(f"#enlarged img.{kind}").evaluate(
                            "img => img.complete && img.naturalWidth > 0"
                        ),
                        10,
                        f"the enlarged {kind} crop",
                    )
                assert "track #" in page.inner_text("#enlarged .caption")
                # Run with -o null: no recording to open, and the event says so.
                assert page.inner_text("#enlarged .note") == "not recorded (-o null)"
                assert not page.is_visible("#enlarged video")
                page.click("#enlarged")
                wait_for(lambda: not page.is_visible("#enlarged"), 10, "closed again")
                # A click on a tile's video: that camera full-screen (its wipe); Escape: the
                # grid.
                video = page.locator(tile("0", "img.video"))
                grid_width = video.bounding_box()["width"]
                video.click()
                wipe = page.locator(tile("0", ".wipe"))
                wait_for(lambda: wipe.is_visible(), 10, "full-screen tile")
                assert wipe.bounding_box()["width"] > 1000
                page.keyboard.press("Escape")
                wait_for(
                    lambda: video.is_visible() and video.bounding_box()["width"] == grid_width,
                    10,
                    "the grid",
                )
                assert not wipe.is_visible()

                job.pipeline.request_stop()
                job.finish("interrupted")
                job = None
                # The pipeline is gone; the page is still served, with the last frame.
                page.reload(wait_until="domcontentloaded")
                wait_for(lambda: status("0") == "ended", 20, "the page after the end")
                wait_for(lambda: shows_frame("0"), 20, "the last frame after the end")
                assert "unreachable" not in page.inner_text("#summary")
            finally:
                browser.close()
    finally:
        if job is not None:
            job.pipeline.request_stop()
            job.finish("interrupted")
        server.close()


# -- face events: one per track, the best crop, video time ------------------------------


def test_face_events_one_per_track_with_the_best_crop_and_video_time():
    from fractions import Fraction

    from streamproc.web.events import FaceEvents

    events = FaceEvents(max_events=3)
    image = _scene()
    versions = []
    for index, height in enumerate([16, 16, 30, 24, 30]):  # the face comes closer, goes
        face = _enhanced_face(image, (100, 100, 100 + height, 100 + height), track_id=5)
        other = _enhanced_face(image, (200, 50, 220, 70), track_id=6)
        packet = FramePacket(
            index=index,
            pts=index * 3000,
            time_base=Fraction(1, 12000),  # 4 frames a second of video
            image=image,
            capture_s=0.0,
            faces=[face, other],
        )
        events.add(packet)
        versions.append(events.list()[-1]["version"])
    listed = events.list()
    assert [e["track_id"] for e in listed] == [6, 5]  # one event per track, newest first
    five = listed[1]
    assert (five["first_s"], five["last_s"], five["frames"]) == (0.0, 1.0, 5)
    assert five["height_px"] == 30  # the best view, kept when a worse one comes after
    assert versions == [1, 1, 2, 2, 2]  # re-encoded only when a better crop came
    crop = cv2.imdecode(np.frombuffer(events.jpeg(5, "original"), np.uint8), 1)
    x1, _, x2, _ = square_box(np.array((100, 100, 130, 130), np.float32), 0.3)
    assert crop.shape[:2] == (x2 - x1, x2 - x1)  # the 30 px view's crop, not a 16 px one
    for track_id in (7, 8):  # more tracks than kept: the one unseen longest goes
        face = _enhanced_face(image, (10, 10, 30, 30), track_id=track_id)
        packet = FramePacket(
            index=9, pts=27000, time_base=Fraction(1, 12000), image=image, capture_s=0.0
        )
        packet.faces = [face]
        events.add(packet)
    assert {e["track_id"] for e in events.list()} == {6, 7, 8}
