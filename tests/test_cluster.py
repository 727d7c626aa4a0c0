"""``--ray-address``: batch and fleet join a Ray cluster started apart with ``ray start``.

The cluster is real (a head node started by Ray's own command, as an operator would),
only on this host. The CLI runs in a subprocess, like a user's shell.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST
from synth import write_clip

from streamproc.core.config import config_to_dict, load_config
from streamproc.scale import batch

pytest.importorskip("ray")
RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update({"RAY_USAGE_STATS_ENABLED": "0", "YOLO_OFFLINE": "1", **extra})
    return env


@pytest.fixture(scope="module")
def head() -> str:
    if not RAY.exists():
        pytest.skip("ray command not installed beside this Python")
    port = _free_port()
    start = [str(RAY), "start", "--head", f"--port={port}", "--num-cpus=2", "--num-gpus=0"]
    start += ["--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run(start, env=_env(), check=True, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=_env(), capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("cluster_clips")
    paths = [folder / f"cam{i}.mp4" for i in range(2)]
    for i, path in enumerate(paths):
        write_clip(path, n_frames=12, n_faces=1 + i, face_px=75)
    return paths


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "streamproc", *args, "--quiet"]
    command += [a for o in FAST for a in ("--set", o)]
    return subprocess.run(
        command, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=300
    )


def _hashes(manifest: Path) -> list[str]:
    doc = json.loads(manifest.read_text())
    assert doc["status"] == "finished"
    return [f["frame_sha256"] for f in doc["frames"]]


def test_batch_on_an_existing_cluster_by_address(head, clips, tmp_path):
    # Relative paths from the driver's folder: the workers run elsewhere (Ray's session
    # folder), so the driver must hand them absolute paths.
    done = _cli(
        ["batch", *(c.name for c in clips), "-o", "out", "--ray-address", head],
        cwd=clips[0].parent,
        RAY_AUTH_MODE="token",
    )
    assert done.returncode == 0, done.stderr
    out = clips[0].parent / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert [f["status"] for f in summary["files"]] == ["finished", "finished"]
    config = config_to_dict(load_config(None, FAST))
    for clip in clips:
        single = tmp_path / f"{clip.stem}.single.mp4"
        assert "summary" in batch.run_job(str(clip), config, str(single))
        expected = _hashes(Path(f"{single}.manifest.json"))
        assert _hashes(out / f"{clip.stem}.enhanced.mp4.manifest.json") == expected


def test_fleet_on_an_existing_cluster_found_by_auto(head, clips, tmp_path):
    done = _cli(["fleet", *map(str, clips), "-o", str(tmp_path), "--ray-address", "auto"], tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    (group,) = summary["groups"]
    assert group["state"] == "ended" and [c["frames_out"] for c in group["cameras"]] == [12, 12]


def test_without_an_address_a_private_local_cluster_runs(head, clips, tmp_path):
    # A running cluster (and RAY_ADDRESS pointing at it) is left alone.
    done = _cli(["batch", str(clips[0]), "-o", str(tmp_path)], tmp_path, RAY_ADDRESS=head)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "summary.json").read_text())["totals"]["frames"] == 12


def test_cluster_that_wants_a_token_is_one_clear_line(head, clips, tmp_path):
    # An explicit address without RAY_AUTH_MODE=token: Ray withholds the token.
    done = _cli(
        ["batch", str(clips[0]), "-o", str(tmp_path), "--ray-address", head],
        tmp_path,
        RAY_gcs_server_port_wait_time_s="2",
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("streamproc:")]
    assert len(errors) == 1 and "RAY_AUTH_MODE=token" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
