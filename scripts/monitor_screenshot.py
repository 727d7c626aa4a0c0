"""Screenshot of the monitor page for the README (docs/monitor.png), in headless Chromium.

    PYTHONPATH=. python scripts/monitor_screenshot.py docs/monitor.png

(also writes docs/monitor_face.png: a face event clicked open, its crops and the camera's
recording at the event's first-seen time, played from the fragmented MP4 being written;
and docs/monitor_wipe.png: a tile full-screen, the original | AI-enhanced wipe).

Three cameras: the bundled sample clip, a synthetic clip with 26 px faces (the marker
on tiny faces) and a camera that refuses connections (its reason on the tile). Recorded
to a temporary folder (the player needs a recording).
"""

from __future__ import annotations

import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from synth import write_clip  # noqa: E402

from streamproc.core.config import load_config  # noqa: E402
from streamproc.run.job import SAMPLE_CLIP, Job  # noqa: E402
from streamproc.web.app import MonitorServer, MonitorState  # noqa: E402
from streamproc.web.monitor import name_cameras  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp())
    tiny = tmp / "lobby.mp4"
    write_clip(tiny, n_frames=600, n_faces=3, face_px=26, fps=12, width=640, height=360)
    specs = [str(SAMPLE_CLIP), str(tiny), f"rtsp://admin:secret@127.0.0.1:{free_port()}/cam"]
    names = ["entrance", "lobby", "gate"]
    state = MonitorState(names, specs)
    server = MonitorServer(state, "127.0.0.1", 0)
    job = Job(
        specs, load_config(None), tmp / "out", preview=True, skip_unopenable=True, folder=True
    )
    name_cameras(job.pipeline, names)
    state.attach(job.pipeline)
    job.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.goto(server.url)
            entrance, lobby = job.pipeline.cameras[:2]
            wait(
                lambda: lobby.stats.faces_enhanced > 30 and entrance.stats.faces_enhanced > 10,
                120,
                "faces on both file cameras",
            )
            wait(
                lambda: page.evaluate("() => latest.get('0').recording.ready"),
                60,
                "the entrance's first fragments",
            )
            page.wait_for_function("document.querySelectorAll('.faces figure').length >= 4")
            page.screenshot(path=str(out))
            # A face event, enlarged: original | enhanced, and the recording at the event's
            # first-seen time (the latest event that the fragments written so far hold).
            wait(lambda: entrance.status == "ended", 120, "the end of the entrance's clip")
            written_s = entrance.sinks[0].frames_written / float(entrance.source.info.fps)
            events = [f for f in entrance.preview.faces() if f["first_s"] < written_s - 3]
            event = max(events, key=lambda f: f["first_s"])
            page.locator(f'.tile[data-cam="0"] figure[data-track="{event["track_id"]}"]').click()
            page.wait_for_function(
                "document.querySelector('#enlarged img.enhanced').naturalWidth > 0"
            )
            page.wait_for_function(
                "(t) => { const v = document.querySelector('#enlarged video');"
                " return v.readyState >= 3 && !v.seeking && Math.abs(v.currentTime - t) < 0.1; }",
                arg=event["first_s"],
            )
            page.wait_for_timeout(1500)  # the player's loading spinner fades out
            page.screenshot(path=str(out.with_name(out.stem + "_face.png")))
            page.keyboard.press("Escape")
            # The entrance full-screen: the wipe, its handle dragged to 45%.
            page.locator('.tile[data-cam="0"] img.video').click()
            wipe = page.locator('.tile[data-cam="0"] .wipe')
            page.wait_for_function(
                "[...document.querySelectorAll('.tile.full .wipe img')]"
                ".every((img) => img.complete && img.naturalWidth > 0)"
            )
            box = wipe.bounding_box()
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] / 2, y)
            page.mouse.down()
            page.mouse.move(box["x"] + 0.45 * box["width"], y, steps=5)
            page.mouse.up()
            page.screenshot(path=str(out.with_name(out.stem + "_wipe.png")))
            browser.close()
    finally:
        job.pipeline.request_stop()
        job.finish("interrupted")
        server.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
