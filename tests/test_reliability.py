"""Issue #17, through the CLI: inputs served over HTTP, resolution changes, outputs that
already exist, re-runs that outlast the shutdown timeout, stops during start-up, and what
the manifest says about inputs that are converted on the way."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import FAST
from synth import read_frames, scene_frame, write_clip

from streamproc.run.cli import main

SETS = [a for s in FAST for a in ("--set", s)]


def run(args: list[str], capsys, quiet: bool = True) -> tuple[int, str]:
    code = main(["run", *args, *(["--quiet"] if quiet else []), *SETS])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return code, err


def manifest_of(output: Path) -> dict:
    return json.loads(Path(str(output) + ".manifest.json").read_text())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- HTTP: a file that is served is a file; a stream is a stream ----------------------------


class _Files(http.server.SimpleHTTPRequestHandler):
    """Serves ``root``; records each request. ``ranges``: honours ``Range`` (206); without
    it every reply is the whole file (python's http.server knows no ranges)."""

    root = "."
    ranges = False
    requests: list[float]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, directory=self.root, **kwargs)

    def log_message(self, *_args) -> None:
        """Quiet; requests are recorded in do_GET."""

    def do_GET(self) -> None:
        self.requests.append(time.monotonic())
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if not self.ranges or match is None:
            super().do_GET()
            return
        data = (Path(self.root) / self.path.lstrip("/")).read_bytes()
        start = int(match[1])
        end = int(match[2]) if match[2] else len(data) - 1
        self.send_response(206)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start : end + 1])


class _Stream(http.server.BaseHTTPRequestHandler):
    """A live MPEG-TS stream (no length) that closes after a clip's worth, as a camera
    that restarts; after ``answers`` connections it is gone (404)."""

    payload = b""
    answers = 3
    requests: list[float]

    def log_message(self, *_args) -> None:
        """Quiet; requests are recorded in do_GET."""

    def do_GET(self) -> None:
        self.requests.append(time.monotonic())
        if len(self.requests) > self.answers:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.end_headers()
        self.wfile.write(self.payload)


@contextlib.contextmanager
def serving(handler: type, **attrs: object) -> Iterator[tuple[str, list[float]]]:
    """A real HTTP server on a free loopback port, in a thread; stopped and joined after."""
    requests: list[float] = []
    handler_class = type(handler.__name__, (handler,), {**attrs, "requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("ranges", [True, False], ids=["range", "no-range"])
@pytest.mark.parametrize("name", ["clip.mp4", "clip.ts"])
def test_file_over_http_is_read_once_to_its_end(tmp_path, capsys, name, ranges):
    www = tmp_path / "www"
    www.mkdir()
    write_clip(www / name, n_frames=24, n_faces=1, face_px=80)
    out = tmp_path / "o.mp4"
    with serving(_Files, root=str(www), ranges=ranges) as (base, requests):
        code, err = run([f"{base}/{name}", "-o", str(out)], capsys)
        assert code == 0, err
        assert len(requests) <= 4, f"{len(requests)} requests for one file"
    frames, _, _ = read_frames(out)
    assert len(frames) == 24  # every frame once: not replayed, none dropped
    doc = manifest_of(out)
    assert doc["status"] == "finished" and doc["input"]["live"] is False
    assert doc["input"]["path"] is None and doc["stats"]["dropped"] == 0
    assert len(doc["frames"]) == 24
    assert not [e for e in doc["input"]["events"] if e["event"] == "disconnect"]


def test_http_stream_that_ends_reconnects_with_backoff(tmp_path, capsys):
    ts = tmp_path / "cam.ts"
    write_clip(ts, n_frames=6, width=160, height=120, face_px=40)
    out = tmp_path / "live.mp4"
    backoff = ["source.reconnect_initial_s=0.2", "source.reconnect_max_s=5"]
    with serving(_Stream, payload=ts.read_bytes(), answers=3) as (base, requests):
        code, err = run(
            [
                f"{base}/live.ts",
                "-o",
                str(out),
                *[a for s in [*backoff, "source.reconnect_max_attempts=1"] for a in ("--set", s)],
            ],
            capsys,
        )
    # Three connections, each ended by the server, then it is gone: the run gives up.
    assert code == 2 and "gave up after 1 reconnects" in err, err
    gaps = [b - a for a, b in zip(requests, requests[1:], strict=False)]
    assert len(requests) == 4, gaps
    # Waited 0.2, 0.4, 0.8 s before reopening: no tight loop against the server.
    assert [g >= w * 0.9 for g, w in zip(gaps, (0.2, 0.4, 0.8), strict=True)] == [True] * 3, gaps
    doc = manifest_of(out)
    assert doc["input"]["live"] is True
    assert sum(e["event"] == "disconnect" for e in doc["input"]["events"]) == 3


# --- a mid-stream resolution change ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "off"])
@pytest.mark.parametrize(
    ("first", "second"),
    [((320, 240), (160, 120)), ((160, 120), (320, 240))],
    ids=["shrink", "grow"],
)
def test_resolution_change_is_scaled_to_the_first_size(tmp_path, capsys, first, second, mode):
    parts = []
    for i, (width, height) in enumerate((first, second)):
        part = tmp_path / f"part{i}.ts"
        write_clip(part, n_frames=12, width=width, height=height, face_px=height // 3)
        parts.append(part)
    joined = tmp_path / "joined.ts"  # as `cat a.ts b.ts` from a camera that switched
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    out = tmp_path / "o.mp4"
    code, err = run([str(joined), "-o", str(out), "--set", f"enhance.mode={mode}"], capsys)
    assert code == 0, err
    frames, _, _ = read_frames(out)
    assert len(frames) == 24  # frames in == frames out
    assert {f.shape for f in frames} == {(first[1], first[0], 3)}
    if mode == "off":  # the second part is the picture, scaled; not cropped, not garbage
        source, _, _ = read_frames(parts[1])
        for got, want in zip(frames[12:], source, strict=True):
            assert psnr(got, cv2.resize(want, first, interpolation=cv2.INTER_AREA)) > 24
    events = [e for e in manifest_of(out)["input"]["events"] if e["event"] == "resolution_change"]
    assert events == [
        {
            "event": "resolution_change",
            "frame": 12,
            "size": f"{second[0]}x{second[1]}",
            "scaled_to": f"{first[0]}x{first[1]}",
        }
    ]


# --- verify: a whole re-run is not a shutdown -----------------------------------------------


def test_verify_outlasts_the_shutdown_timeout(tmp_path, capsys, silent_clip, monkeypatch):
    out = tmp_path / "rec.mp4"
    assert main(["run", str(silent_clip), "-o", str(out), "--quiet", *SETS]) == 0
    import streamproc.core.pipeline
    from streamproc.vision.composite import Compositor

    # The re-run takes far longer than the (shrunk) time allowed for threads to stop.
    monkeypatch.setattr(streamproc.core.pipeline, "STOP_TIMEOUT_S", 0.02)
    original = Compositor.process

    def slow(self, packets):
        time.sleep(0.05)
        return original(self, packets)

    monkeypatch.setattr(Compositor, "process", slow)
    assert main(["verify", str(tmp_path / "rec.mp4.manifest.json")]) == 0
    captured = capsys.readouterr()
    assert "verified: re-run reproduces all 12 frames exactly" in captured.out, captured


# --- Ctrl-C / SIGTERM while models load -----------------------------------------------------


# The CLI in its own process, as a user runs it, with the detector's loading replaced by
# one that signals the process and waits: the signal must cut it short. (In the test
# process itself, after a few hundred tests had loaded models and started Ray, the
# self-sent signal crashed the interpreter.)
LOADING = """
import os, signal, sys, time
import streamproc.run.job

def loading(*_args, **_kwargs):
    # main() installed its start-up handler (SIGTERM acts as Ctrl-C) on this thread.
    assert signal.getsignal(SIGNUM) not in (signal.SIG_DFL, signal.SIG_IGN, None)
    os.kill(os.getpid(), SIGNUM)
    time.sleep(5)  # the handler interrupts this at once
    raise AssertionError("the signal did not interrupt the model loading")

streamproc.run.job.FaceDetector = loading
from streamproc.run.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "verbose"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_while_models_load_leaves_an_interrupted_manifest(
    tmp_path, silent_clip, signum, quiet
):
    out = tmp_path / "early.mp4"
    code = LOADING.replace("SIGNUM", f"signal.{signum.name}")
    args = ["run", str(silent_clip), "-o", str(out), *(["--quiet"] if quiet else []), *SETS]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    err = proc.stderr.strip()
    assert "Traceback" not in err
    # 130, not the AssertionError's internal error (1): the signal cut the loading short.
    assert proc.returncode == 130, err
    # --quiet prints errors only, early or mid-run alike; otherwise one line says it.
    assert err == ("" if quiet else "streamproc: interrupted")
    doc = manifest_of(out)
    assert doc["status"] == "interrupted" and doc["frames"] == [] and doc["outputs"] == []
    assert doc["stats"]["frames_out"] == 0
    assert doc["input"]["path"] == str(silent_clip.resolve())
    assert not out.exists()  # the name reserved for the output is released


# --- existing outputs -------------------------------------------------------------------------


def test_second_run_on_an_output_needs_overwrite(tmp_path, capsys, silent_clip):
    out = tmp_path / "o.mp4"
    assert run([str(silent_clip), "-o", str(out)], capsys)[0] == 0
    first = sha256(out)
    code, err = run([str(silent_clip), "-o", str(out)], capsys)
    assert (
        code == 2
        and err == f"streamproc: error: output {out} already exists (add --overwrite to replace it)"
    )
    assert sha256(out) == first and manifest_of(out)["outputs"][0]["sha256"] == first
    code, err = run([str(silent_clip), "-o", str(out), "--overwrite"], capsys)
    assert code == 0, err
    assert manifest_of(out)["outputs"][0]["sha256"] == sha256(out)
    assert len(read_frames(out)[0]) == 12


def test_two_runs_started_together_on_one_output(tmp_path, silent_clip):
    out = tmp_path / "same.mp4"
    cmd = [sys.executable, "-m", "streamproc", "run", str(silent_clip), "-o", str(out)]
    procs = [
        subprocess.Popen([*cmd, "--quiet", *SETS], stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = sorted((p.wait(timeout=120), p.stderr.read()) for p in procs)
    for p in procs:
        p.stderr.close()
    assert [code for code, _ in results] == [0, 2], results
    assert "already exists (add --overwrite" in results[1][1]
    assert len(read_frames(out)[0]) == 12
    assert manifest_of(out)["outputs"][0]["sha256"] == sha256(out)


def test_the_sample_demo_can_be_run_again(tmp_path, capsys, silent_clip, monkeypatch):
    import streamproc.run.job

    sample = tmp_path / "sample.mp4"
    sample.write_bytes(silent_clip.read_bytes())
    monkeypatch.setattr(streamproc.run.job, "SAMPLE_CLIP", sample)
    monkeypatch.chdir(tmp_path)
    assert run([], capsys)[0] == 0
    assert run([], capsys)[0] == 0  # `streamproc run` twice: the demo replaces its output
    assert len(read_frames(tmp_path / "out" / "sample.enhanced.mp4")[0]) == 12
    # Naming the input is a real job: its default output is kept.
    code, err = run([str(sample)], capsys)
    assert code == 2 and "already exists" in err, err


# --- inputs converted on the way say so in the manifest ---------------------------------------


def test_16_bit_tiff_to_a_named_image(tmp_path, capsys):
    image = (scene_frame(0, 320, 240, 1, 80)[0].astype(np.uint16) * 257) + 7
    src = tmp_path / "scan.tiff"
    assert cv2.imwrite(str(src), image)
    out = tmp_path / "enhanced.tiff"  # one image in, the one image named out
    code, err = run([str(src), "-o", str(out), "--set", "enhance.mode=off"], capsys)
    assert code == 0, err
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint8  # scaled down, rounded: 257 * v + 7 -> v
    assert np.array_equal(written, (image // 257).astype(np.uint8))
    doc = manifest_of(out)
    assert [o["path"] for o in doc["outputs"]] == ["enhanced.tiff"]
    assert {"event": "converted_to_8bit", "file": "scan.tiff", "bits_per_channel": 16} in doc[
        "input"
    ]["events"]


def test_interlaced_input_is_noted(tmp_path, capsys):
    src = tmp_path / "interlaced.mp4"
    with av.open(str(src), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"x264-params": "interlaced=1:tff=1", "preset": "ultrafast"}
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(scene_frame(i, 320, 240, 1, 80)[0], format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    out = tmp_path / "o.mp4"
    code, err = run([str(src), "-o", str(out)], capsys)
    assert code == 0, err
    assert len(read_frames(out)[0]) == 6
    notes = [e for e in manifest_of(out)["input"]["events"] if e["event"] == "interlaced"]
    assert len(notes) == 1 and "encoded progressive" in notes[0]["note"]


def test_several_inputs_into_a_folder_twice(tmp_path, capsys, silent_clip, face_clip):
    inputs, out = [str(silent_clip), str(face_clip[0])], tmp_path / "out"
    assert run([*inputs, "-o", str(out)], capsys)[0] == 0
    code, err = run([*inputs, "-o", str(out)], capsys)
    assert code == 2 and "silent.enhanced.mp4 already exists (add --overwrite" in err, err
    assert run([*inputs, "-o", str(out), "--overwrite"], capsys)[0] == 0
    assert len(read_frames(out / "faces.enhanced.mp4")[0]) == 24
