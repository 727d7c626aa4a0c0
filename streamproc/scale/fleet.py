"""``streamproc fleet``: many live cameras on a Ray cluster, one actor per camera group.

Each camera group is a Ray actor (:class:`GroupWorker`, its own process) running the
multi-camera pipeline of ``streamproc run A B ...`` (:class:`streamproc.run.job.Job`):
per-camera readers, trackers and writers, one shared detector and enhancer batching across
the group's cameras. The driver only places, watches and stops the actors.

Placement: each actor asks Ray for ``gpus_per_group`` GPUs (fractions share a GPU), so it
lands on a node with a free GPU and Ray sets its ``CUDA_VISIBLE_DEVICES``; inside the actor
the assigned GPU is therefore device 0, and the config's CUDA device ids are rewritten to 0.
Groups are spread over nodes. A group that cannot be placed yet is shown as ``pending``.

Status: the driver polls every actor for the same snapshot the monitor page shows and
writes ``OUTDIR/status.json`` (atomically, every ``status_interval_s``) plus a live table.

Failures: an actor whose process dies (killed, out of memory, node lost) is restarted by
Ray up to ``max_restarts`` times. Every start of a group writes into a new folder
``OUTDIR/<group>/run-NNN/``, so a restart never overwrites what was already recorded (the
dead run's fragmented MP4s stay playable; its manifests, written at the end, are lost). A
group whose cameras cannot be opened is ``failed`` (one line, no retry: it would fail the
same way); the other groups go on.

End: when every group has ended (file inputs), after ``duration_s``, or on Ctrl-C/SIGTERM,
every group stops, closes its files and writes its manifests; the driver writes
``summary.json`` and ``summary.md``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from streamproc.core.config import Config, config_from_dict, config_to_dict
from streamproc.core.errors import ConfigError, StreamprocError
from streamproc.core.urls import mask_url
from streamproc.scale.cluster import (
    first_line,
    init_ray,
    portable_path,
    unused_gpu_warning,
    worker_env,
)
from streamproc.web import monitor

log = logging.getLogger(__name__)

# Group states, as the driver sees them.
PENDING = "pending"  # not placed yet (no free CPU/GPU slot) or still starting
RUNNING = "running"
RESTARTING = "restarting"  # the actor died and Ray is starting it again
ENDED = "ended"  # every camera of the group ended (file inputs) or it was stopped
FAILED = "failed"  # the group's pipeline could not start or stopped with an error
DEAD = "dead"  # the actor died more often than max_restarts allows
FINISHED_STATES = (ENDED, FAILED, DEAD)
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
POLL_WAIT_S = 0.5


@dataclass(frozen=True)
class CameraGroup:
    """Cameras that share one actor (one detector, one enhancer, one GPU share)."""

    name: str
    inputs: tuple[str, ...]

    def __post_init__(self) -> None:
        if not GROUP_NAME.fullmatch(self.name):
            raise ConfigError(f"group name {self.name!r}: use letters, digits, '_', '-', '.'")
        if not self.inputs:
            raise ConfigError(f"group {self.name} has no cameras")


@dataclass(frozen=True)
class FleetOptions:
    """Where the groups run and for how long (``duration_s`` 0: until stopped or ended)."""

    out_dir: Path
    ray_address: str | None = None
    gpus_per_group: float = 0.0
    cpus_per_group: float = 1.0
    # GPUs a local cluster offers (None: detect; 0 when no group asks for one).
    local_gpus: int | None = None
    max_restarts: int = 3
    duration_s: float = 0.0
    status_interval_s: float = 1.0
    finish_timeout_s: float = 60.0
    # Serve the status page on the driver, at the config's serve.host / serve.port.
    serve: bool = False

    def __post_init__(self) -> None:
        if self.gpus_per_group < 0 or self.cpus_per_group < 0:
            raise ConfigError("--gpus-per-group and --cpus-per-group must be >= 0")
        if self.max_restarts < 0 or self.duration_s < 0 or self.status_interval_s <= 0:
            raise ConfigError("--max-restarts and --duration-s must be >= 0")


def plan_groups(specs: Sequence[str], cameras_per_group: int) -> list[CameraGroup]:
    """Consecutive cameras in groups of ``cameras_per_group``: g0, g1, ..."""
    if cameras_per_group < 1:
        raise ConfigError("--cameras-per-group must be >= 1")
    if not specs:
        raise StreamprocError("fleet needs at least one camera")
    chunks = [specs[i : i + cameras_per_group] for i in range(0, len(specs), cameras_per_group)]
    return [CameraGroup(f"g{i}", tuple(chunk)) for i, chunk in enumerate(chunks)]


def groups_from_yaml(data: Any, cameras_per_group: int) -> list[CameraGroup]:
    """A YAML list of cameras (grouped by count) or a mapping group name -> cameras."""
    if isinstance(data, list) and all(isinstance(s, str) for s in data):
        return plan_groups(data, cameras_per_group)
    if isinstance(data, dict) and data:
        groups = []
        for name, inputs in data.items():
            if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
                raise ConfigError(f"group {name}: expected a list of cameras")
            groups.append(CameraGroup(str(name), tuple(inputs)))
        return groups
    raise ConfigError("the inputs file must be a YAML list of cameras or a mapping of groups")


def on_assigned_gpu(config: Config) -> Config:
    """Ray shows an actor only its own GPUs, so inside it the first visible GPU is 0."""
    detect = config.detect
    if detect.device.startswith("cuda"):
        detect = replace(detect, device="cuda:0")
    return replace(config, detect=detect, enhance=replace(config.enhance, device_id=0))


def new_run_dir(group_dir: Path) -> Path:
    """The first free ``run-NNN`` folder, created here (a restart never reuses one)."""
    group_dir.mkdir(parents=True, exist_ok=True)
    for n in range(100_000):
        path = group_dir / f"run-{n:03d}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise StreamprocError(f"{group_dir} is full of runs")


class GroupWorker:
    """The Ray actor: one camera group's pipeline in its own process.

    Method calls come from the driver on Ray's threads (the actor is threaded), so a slow
    ``finish`` never blocks ``status``; the pipeline runs on its own threads meanwhile.
    """

    def __init__(
        self, name: str, inputs: list[str], config_data: dict, out_dir: str, preview: bool
    ) -> None:
        worker_env()
        import ray

        from streamproc.io.sinks.rtsp_push import per_camera
        from streamproc.run.job import Job

        context = ray.get_runtime_context()
        gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        config = config_from_dict(config_data)
        if gpu_ids:
            config = on_assigned_gpu(config)
        if config.output.rtsp_push:  # each camera of the fleet pushes to its own path
            push = per_camera(config.output.rtsp_push)
            config = replace(config, output=replace(config.output, rtsp_push=push))
        self._lock = threading.Lock()
        self._result: dict[str, Any] | None = None
        self._names = [mask_url(spec) for spec in inputs]
        self.run_dir = new_run_dir(Path(out_dir) / name)
        self.info = {
            "pid": os.getpid(),
            "node_ip": ray.util.get_node_ip_address(),
            "node_id": context.get_node_id()[:12],
            "gpu_ids": gpu_ids,
            "reconstructed": context.was_current_actor_reconstructed,
            "run_dir": str(self.run_dir),
        }
        self.job: Job | None = None
        self.error: str | None = None
        self.bad_input = False
        try:
            # A camera that cannot be opened is reported; its group's other cameras run.
            self.job = Job(
                inputs,
                config,
                str(self.run_dir),
                preview=preview,
                skip_unopenable=True,
                folder=True,
                names=[f"{name}-cam{i}" for i in range(len(inputs))],
            )
            self.job.start()
        except StreamprocError as err:
            self.error, self.bad_input = mask_url(" ".join(str(err).split())), True
            self.job = None

    def status(self) -> dict[str, Any]:
        running = self.job is not None and self.job.pipeline.alive()
        snapshot = monitor.snapshot(self.job.pipeline) if self.job is not None else None
        return {
            **self.info,
            "running": running,
            "error": self.error,
            "bad_input": self.bad_input,
            "pipeline": snapshot,
        }

    def stop(self) -> None:
        if self.job is not None:
            self.job.pipeline.request_stop()

    def jpeg(self, cam_id: str, view: str, after_seq: int) -> tuple[int, bytes | None]:
        """The newest frame of a camera as JPEG, if newer than ``after_seq``.

        (seq, None) when there is nothing new; (-1, None) when the camera has no preview
        (unknown, not opened, or closed): the driver's stream then ends.
        """
        cam = next((c for c in self._cams() if c.id == cam_id), None)
        if cam is None or cam.preview is None or cam.preview.closed:
            return -1, None
        if cam.preview.seq == after_seq:
            return after_seq, None
        return cam.preview.jpeg(view)

    def finish(self, status: str) -> dict[str, Any]:
        """Stop, close every file, write the manifests; per-camera results (idempotent)."""
        with self._lock:
            if self._result is None:
                self._result = self._finish(status)
            return self._result

    def _finish(self, status: str) -> dict[str, Any]:
        cameras: list[dict[str, Any]] = []
        if self.job is None:  # no camera could be opened: each is reported with the reason
            for i, name in enumerate(self._names):
                zeros = dict.fromkeys(CAMERA_FIELDS, 0)
                failed = {"status": "failed", "bad_input": True, "error": self.error}
                cameras.append({"id": str(i), "name": name, "output": None, **zeros, **failed})
            return {**self.info, "error": self.error, "bad_input": True, "cameras": cameras}
        self.job.pipeline.request_stop()
        try:
            summaries = self.job.finish(status)
        except StreamprocError as err:
            self.error = mask_url(" ".join(str(err).split()))
            summaries = [cam.stats.summary() | {"status": cam.status} for cam in self._cams()]
        except Exception as err:  # noqa: BLE001 - reported in the summary, not lost
            self.error = mask_url(f"{type(err).__name__}: {err}")
            summaries = [cam.stats.summary() | {"status": cam.status} for cam in self._cams()]
        outputs = self.job.outputs
        for cam, summary, output in zip(self._cams(), summaries, outputs, strict=True):
            cameras.append(
                {
                    "id": cam.id,
                    "name": cam.name,
                    "output": None if output is None else str(output),
                    "error": None if cam.error is None else mask_url(str(cam.error)),
                    **{k: summary[k] for k in CAMERA_FIELDS},
                }
            )
        for cam in self.job.pipeline.unopened:
            zeros = dict.fromkeys(CAMERA_FIELDS, 0)
            cameras.append({**cam, "output": None, **zeros, "status": "failed", "bad_input": True})
        cameras.sort(key=lambda c: int(c["id"]))
        return {**self.info, "error": self.error, "bad_input": False, "cameras": cameras}

    def _cams(self) -> list:
        return [] if self.job is None else self.job.pipeline.cameras


CAMERA_FIELDS = (
    "status",
    "frames_in",
    "frames_out",
    "dropped",
    "faces_enhanced",
    "fps",
    "latency_ms_p95",
)


@dataclass
class GroupState:
    """What the driver knows about one group."""

    group: CameraGroup
    actor: Any
    state: str = PENDING
    status: dict[str, Any] | None = None  # the actor's last answer to status()
    status_ref: Any = None
    finish_ref: Any = None
    result: dict[str, Any] | None = None  # the actor's answer to finish()
    pids: list[int] = field(default_factory=list)
    run_dirs: list[str] = field(default_factory=list)
    error: str | None = None
    bad_input: bool = False

    @property
    def restarts(self) -> int:
        seen = len(self.pids) - 1 if self.pids else 0
        reconstructed = bool(self.status and self.status.get("reconstructed"))
        return max(seen, int(reconstructed))


class Fleet:
    """The driver: starts one actor per group, polls them, stops and collects them."""

    def __init__(self, groups: Sequence[CameraGroup], config: Config, options: FleetOptions):
        names = [g.name for g in groups]
        if len(set(names)) != len(names):
            raise ConfigError("group names must be unique")
        self.groups, self.config, self.options = list(groups), config, options
        self.states: list[GroupState] = []
        self.started_s = time.monotonic()
        self._ray: Any = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        opts = self.options
        opts.out_dir.mkdir(parents=True, exist_ok=True)
        out_dir = opts.out_dir.resolve()
        wants_gpu = opts.gpus_per_group > 0
        local_gpus = opts.local_gpus if opts.local_gpus is not None else (None if wants_gpu else 0)
        # A local cluster gets a CPU slot for every group: the user chose how many to run.
        local_cpus = max(os.cpu_count() or 1, int(len(self.groups) * opts.cpus_per_group + 0.999))
        warning = unused_gpu_warning(self.config, opts.gpus_per_group)
        if warning:
            log.warning("%s", warning)
        self._ray = init_ray(opts.ray_address, local_cpus, local_gpus)
        actor_class = self._ray.remote(GroupWorker)
        config_data = config_to_dict(self.config)
        placed = actor_class.options(
            num_cpus=opts.cpus_per_group,
            num_gpus=opts.gpus_per_group,
            max_restarts=opts.max_restarts,
            max_concurrency=4,
            scheduling_strategy="SPREAD",
        )
        for group in self.groups:
            inputs = [portable_path(spec) for spec in group.inputs]
            actor = placed.remote(group.name, inputs, config_data, str(out_dir), opts.serve)
            self.states.append(GroupState(group, actor))

    def poll(self) -> dict[str, Any]:
        """Ask every group for its status (without ever waiting on one); the status doc."""
        ray = self._ray
        for st in self.states:
            if st.state not in FINISHED_STATES and st.status_ref is None:
                st.status_ref = st.actor.status.remote()
        refs = [st.status_ref for st in self.states if st.status_ref is not None]
        refs += [st.finish_ref for st in self.states if st.finish_ref is not None]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=POLL_WAIT_S)
        for st in self.states:
            if st.status_ref is not None and _ready(ray, st.status_ref):
                ref, st.status_ref = st.status_ref, None
                self._on_status(st, ref)
            if st.finish_ref is not None and _ready(ray, st.finish_ref):
                self._on_finish(st)
        return self.status_doc()

    def jpeg(self, group: str, cam_id: str, view: str, after_seq: int) -> tuple[int, bytes | None]:
        """For the status page (called on its threads): a camera's newest JPEG via its actor.

        (-1, None) once the group is over; (after_seq, None) while it cannot answer (pending,
        restarting, slow): the page's stream waits and goes on after a restart.
        """
        from ray.exceptions import GetTimeoutError, RayError

        st = next((s for s in self.states if s.group.name == group), None)
        if st is None or st.state in FINISHED_STATES or self._ray is None:
            return -1, None
        try:
            return self._ray.get(st.actor.jpeg.remote(cam_id, view, after_seq), timeout=2.0)
        except (GetTimeoutError, RayError):
            return after_seq, None

    def _on_status(self, st: GroupState, ref: Any) -> None:
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayError

        try:
            value = self._ray.get(ref)
        except ActorUnavailableError:
            self._set(st, RESTARTING)
            return
        except ActorDiedError as err:
            st.error = st.error or f"actor died: {first_line(err)}"
            self._set(st, DEAD)
            return
        except RayError as err:
            st.error = f"status failed: {first_line(err)}"
            self._set(st, FAILED)
            return
        st.status = value
        if value["pid"] not in st.pids:
            st.pids.append(value["pid"])
            st.run_dirs.append(value["run_dir"])
        if value["error"]:
            st.error, st.bad_input = value["error"], value["bad_input"]
            self._set(st, FAILED)
        elif value["running"]:
            self._set(st, RUNNING)
        else:
            self._set(st, ENDED)
        if st.state in (ENDED, FAILED) and st.finish_ref is None:
            # Done by itself: close its files now and free its slot for pending groups.
            st.finish_ref = st.actor.finish.remote("finished")

    def _on_finish(self, st: GroupState) -> None:
        from ray.exceptions import RayError

        ref, st.finish_ref = st.finish_ref, None
        try:
            st.result = self._ray.get(ref)
        except RayError as err:
            st.error = st.error or f"finish failed: {first_line(err)}"
            st.result = {"cameras": []}
            self._set(st, DEAD)
        else:
            if st.result.get("error"):
                st.error = st.error or st.result["error"]
            self._set(st, FAILED if st.error else ENDED)
        self._ray.kill(st.actor, no_restart=True)

    def _set(self, st: GroupState, state: str) -> None:
        if state == st.state:
            return
        st.state = state
        if state in (FAILED, DEAD):
            log.error("group %s: %s: %s", st.group.name, state, st.error or "")
        elif state == RUNNING and st.status is not None:
            gpus = ",".join(st.status["gpu_ids"])
            where = f"gpu {gpus}" if gpus else "cpu"
            log.info(
                "group %s: running on %s (%s) -> %s",
                st.group.name,
                st.status["node_ip"],
                where,
                st.status["run_dir"],
            )
        else:
            log.info("group %s: %s", st.group.name, state)

    @property
    def done(self) -> bool:
        return all(st.state in FINISHED_STATES and st.finish_ref is None for st in self.states)

    def stop(self, status: str) -> None:
        """Stop every group, wait for their files and manifests, kill the actors."""
        ray = self._ray
        for st in self.states:
            if st.state in (RUNNING, ENDED, FAILED) and st.result is None and not st.finish_ref:
                st.finish_ref = st.actor.finish.remote(status)
        refs = [st.finish_ref for st in self.states if st.finish_ref is not None]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=self.options.finish_timeout_s)
        for st in self.states:
            if st.finish_ref is not None and _ready(ray, st.finish_ref):
                self._on_finish(st)
            elif st.result is None:
                if st.finish_ref is not None:
                    st.error = st.error or "did not finish in time; outputs may lack manifests"
                elif st.state == PENDING:
                    st.error = st.error or "never started (no free CPU/GPU slot on the cluster?)"
                elif st.state == RESTARTING:
                    st.error = st.error or "stopped while restarting after a crash"
                st.finish_ref = None
                if st.state != DEAD:
                    self._set(st, FAILED)
                ray.kill(st.actor, no_restart=True)

    def shutdown(self) -> None:
        if self._ray is not None:
            self._ray.shutdown()
            self._ray = None

    # -- reports -------------------------------------------------------------------------
    def status_doc(self) -> dict[str, Any]:
        groups = []
        for st in self.states:
            info = st.status or {}
            snap = info.get("pipeline") or {}
            groups.append(
                {
                    "name": st.group.name,
                    "state": st.state,
                    "cameras_planned": len(st.group.inputs),
                    "node_ip": info.get("node_ip"),
                    "node_id": info.get("node_id"),
                    "gpu_ids": info.get("gpu_ids", []),
                    "pid": info.get("pid"),
                    "run_dir": info.get("run_dir"),
                    "restarts": st.restarts,
                    "error": st.error,
                    "stages": snap.get("stages", {}),
                    "cameras": snap.get("cameras", []),
                }
            )
        return {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "elapsed_s": round(time.monotonic() - self.started_s, 2),
            "groups": groups,
        }

    def summary_doc(self, status: str) -> dict[str, Any]:
        groups = []
        for st in self.states:
            result = st.result or {}
            cameras = result.get("cameras")
            if cameras is None:  # never finished: the last numbers seen, marked as such
                last = ((st.status or {}).get("pipeline") or {}).get("cameras", [])
                cameras = [
                    {"id": c["id"], "name": c["name"], "output": None, "error": c["error"]}
                    | {k: c.get(k) for k in CAMERA_FIELDS}
                    | {"status": f"lost ({c['status']})"}
                    for c in last
                ]
            groups.append(
                {
                    "name": st.group.name,
                    "state": st.state,
                    "node_ip": (st.status or {}).get("node_ip"),
                    "gpu_ids": (st.status or {}).get("gpu_ids", []),
                    "restarts": st.restarts,
                    "run_dirs": st.run_dirs,
                    "error": st.error,
                    "bad_input": st.bad_input,
                    "cameras": cameras,
                }
            )
        frames = sum(c.get("frames_out") or 0 for g in groups for c in g["cameras"])
        wall_s = time.monotonic() - self.started_s
        return {
            "status": status,
            "totals": {
                "groups": len(groups),
                "cameras": sum(len(g.group.inputs) for g in self.states),
                "failed_groups": sum(g["state"] in (FAILED, DEAD) for g in groups),
                "failed_cameras": sum(
                    str(c["status"]).startswith(("failed", "lost"))
                    for g in groups
                    for c in g["cameras"]
                ),
                "restarts": sum(g["restarts"] for g in groups),
                "frames": frames,
                "wall_s": round(wall_s, 2),
                "fps": round(frames / wall_s, 2) if wall_s > 0 else 0.0,
            },
            "groups": groups,
        }


def _ready(ray: Any, ref: Any) -> bool:
    ready, _ = ray.wait([ref], timeout=0)
    return bool(ready)


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Atomically: a reader of status.json never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)


def summary_markdown(doc: dict[str, Any]) -> str:
    lines = [
        "| group | state | node | gpu | restarts | camera | status | frames | fps | faces "
        "| error |",
        "|---|---|---|---|---:|---|---|---:|---:|---:|---|",
    ]
    for g in doc["groups"]:
        gpus = ",".join(g["gpu_ids"]) or "-"
        rows = g["cameras"] or [{"name": "-", "status": "-", "error": None}]
        for cam in rows:
            error = (cam.get("error") or g["error"] or "").replace("|", "\\|")
            lines.append(
                f"| {g['name']} | {g['state']} | {g['node_ip'] or '-'} | {gpus} | {g['restarts']} "
                f"| {cam['name']} | {cam['status']} | {cam.get('frames_out') or 0} "
                f"| {cam.get('fps') or 0:.1f} | {cam.get('faces_enhanced') or 0} | {error} |"
            )
    t = doc["totals"]
    lines.append(
        f"\n{t['groups']} groups ({t['failed_groups']} failed), {t['cameras']} cameras "
        f"({t['failed_cameras']} failed), "
        f"{t['restarts']} restarts; {t['frames']} frames, {t['fps']:.1f} frames/s "
        f"over {t['wall_s']:.1f} s ({doc['status']})\n"
    )
    return "\n".join(lines)


def status_table(doc: dict[str, Any]):
    """The driver's live view: one row per camera, grouped."""
    from rich.table import Table

    table = Table(title=f"streamproc fleet  {doc['elapsed_s']:.0f} s")
    for name in ("group", "state", "node", "gpu", "camera", "status", "fps", "frames", "dropped"):
        table.add_column(name, justify="right" if name in ("fps", "frames", "dropped") else "left")
    style = {RUNNING: "green", PENDING: "yellow", RESTARTING: "yellow", ENDED: "cyan"}
    for g in doc["groups"]:
        state = f"[{style.get(g['state'], 'red')}]{g['state']}[/]"
        if g["restarts"]:
            state += f" ({g['restarts']} restarts)"
        gpus = ",".join(g["gpu_ids"]) or "-"
        rows = g["cameras"] or [{"name": g["error"] or "-", "status": "", "fps": 0.0}]
        for i, cam in enumerate(rows):
            head = (g["name"], state, g["node_ip"] or "-", gpus) if i == 0 else ("",) * 4
            table.add_row(
                *head,
                cam["name"],
                cam["status"],
                f"{cam.get('fps', 0.0):.1f}",
                str(cam.get("frames_out", 0)),
                str(cam.get("dropped", 0)),
            )
    return table


def exit_code(doc: dict[str, Any], interrupted: bool) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    failed = [g for g in doc["groups"] if g["state"] != ENDED]
    failed_cams = [
        c
        for g in doc["groups"]
        for c in g["cameras"]
        if c["status"] == "failed" or str(c["status"]).startswith("lost")
    ]
    if not failed and not failed_cams:
        return EXIT_OK
    bad = all(g["bad_input"] for g in failed) and all(c.get("bad_input") for c in failed_cams)
    return EXIT_BAD_INPUT if bad else EXIT_FAILED


def run_fleet(
    groups: Sequence[CameraGroup],
    config: Config,
    options: FleetOptions,
    stop: threading.Event,
    on_status: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every group until they all end, ``duration_s`` passes or ``stop`` is set.

    Writes status.json while running and summary.json/.md at the end; returns the summary.
    """
    fleet = Fleet(groups, config, options)
    out = options.out_dir
    server = None
    latest: dict[str, Any] = {"groups": [], "elapsed_s": 0.0, "time": None}
    try:
        if options.serve:
            from streamproc.web.app import AppServer
            from streamproc.web.fleet import build_fleet_app

            host, port = config.serve.host, config.serve.port
            server = AppServer(build_fleet_app(lambda: latest, fleet.jpeg), host, port)
            print(f"streamproc: fleet status page at {server.url}", file=sys.stderr, flush=True)
        fleet.start()
        deadline = fleet.started_s + options.duration_s if options.duration_s > 0 else None
        while not stop.is_set():
            doc = fleet.poll()
            if server is not None:
                doc["monitor"] = server.url
            latest = doc
            write_json(out / "status.json", doc)
            if on_status is not None:
                on_status(doc)
            if fleet.done or (deadline is not None and time.monotonic() >= deadline):
                break
            stop.wait(max(0.0, options.status_interval_s - POLL_WAIT_S))
        status = "interrupted" if stop.is_set() else "finished"
        fleet.stop(status)
        write_json(out / "status.json", fleet.status_doc())
        summary = fleet.summary_doc(status)
    finally:
        try:
            fleet.shutdown()
        finally:
            if server is not None:
                server.close()
    write_json(out / "summary.json", summary)
    (out / "summary.md").write_text(summary_markdown(summary))
    return summary
