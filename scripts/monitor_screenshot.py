"""Screenshot of the monitor page for the README (docs/monitor.png), in headless Chromium.

    PYTHONPATH=. python scripts/monitor_screenshot.py docs/monitor.png

(also writes docs/monitor_face.png: a face event clicked open).

Three cameras: the bundled sample clip, a synthetic clip with 26 px faces (the marker
on tiny faces) and a camera that refuses connections (its reason on the tile).
"""

from __future__ import annotations

import socket
import sys
import tempfile
import time
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


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp())
    tiny = tmp / "lobby.mp4"
    write_clip(tiny, n_frames=600, n_faces=3, face_px=26, fps=12, width=640, height=360)
    specs = [str(SAMPLE_CLIP), str(tiny), f"rtsp://admin:secret@127.0.0.1:{free_port()}/cam"]
    names = ["entrance", "lobby", "gate"]
    state = MonitorState(names, specs)
    server = MonitorServer(state, "127.0.0.1", 0)
    job = Job(specs, load_config(None), "null", preview=True, skip_unopenable=True, folder=True)
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
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                faces = job.pipeline.cameras[1].stats.faces_enhanced
                if faces > 30 and job.pipeline.cameras[0].stats.faces_enhanced > 10:
                    break
                time.sleep(0.5)
            time.sleep(3)  # a few polls: recent fps, the face strip
            page.screenshot(path=str(out))
            # A face event, enlarged: original | enhanced.
            page.locator('.tile[data-cam="0"] .faces figure').first.click()
            page.wait_for_function(
                "document.querySelector('#enlarged img.enhanced').naturalWidth > 0"
            )
            page.screenshot(path=str(out.with_name(out.stem + "_face.png")))
            browser.close()
    finally:
        job.pipeline.request_stop()
        job.finish("interrupted")
        server.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
