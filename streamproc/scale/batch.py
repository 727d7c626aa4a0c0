"""``streamproc batch``: a footage archive through the same pipeline, one Ray task per file.

Each input runs ``streamproc.run.job.Job`` as a task of a Ray actor (one per worker, which
keeps the loaded models for its next file), so a laptop (a local Ray cluster started
here) and a real cluster (``--ray-address``) share one code path. The
driver only schedules and collects: outputs and manifests are written by the tasks into
OUTDIR (which must be shared storage on a multi-host cluster), the summary by the driver.

Work is resumable by manifest: an output whose manifest says ``finished``, whose output
sha256 matches the file on disk and whose input and config hashes match this run is
skipped. A failed task is retried (``max_retries``: worker crashes and unexpected errors)
and then reported with its error, never dropped. Bad input (a ``StreamprocError``) is not
retried: it would fail the same way again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from streamproc.audit.hashing import sha256_file
from streamproc.audit.manifest import manifest_path
from streamproc.core.config import Config, config_from_dict, config_to_dict, dump_config
from streamproc.core.errors import StreamprocError
from streamproc.scale.cluster import (
    first_line,
    init_ray,
    portable_path,
    unused_gpu_warning,
    worker_env,
)

log = logging.getLogger(__name__)
FINISHED, SKIPPED, FAILED, INTERRUPTED = "finished", "skipped", "failed", "interrupted"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
STOP_GRACE_S = 30.0  # how long a stopped batch waits for running tasks to close their files
_CRASHED = "crashed"  # a task's value: its worker died or it raised (retried by the driver)


@dataclass(frozen=True)
class BatchOptions:
    """How the batch is scheduled. ``workers`` caps the tasks in flight (None: cluster's)."""

    out_dir: Path
    ray_address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    segment_s: float = 0.0
    max_retries: int = 2
    # A task running longer than this is cancelled (its worker killed) and reported, not
    # retried: a hung read from network storage must not hold the batch forever. 0: no limit.
    task_timeout_s: float = 0.0
    # Keep the cut inputs and per-segment outputs (OUTDIR/.segments) after a join.
    keep_segments: bool = False


@dataclass
class FileResult:
    """One input's outcome, as it appears in summary.json."""

    input: str
    output: str
    status: str
    frames: int = 0
    faces: int = 0
    elapsed_s: float = 0.0
    fps: float = 0.0
    error: str | None = None
    bad_input: bool = False
    segments: int = 0
    frame_sha256: list[str] = field(default_factory=list, repr=False)


def output_for(spec: str, out_dir: Path) -> Path:
    return out_dir / f"{Path(spec).stem}.enhanced.mp4"


def config_sha256(config: Config) -> str:
    return hashlib.sha256(dump_config(config).encode()).hexdigest()


def finished_manifest(output: Path, spec: str, config: Config) -> dict | None:
    """The manifest of a finished, intact run of this input with this config, else None."""
    try:
        doc = json.loads(manifest_path(output).read_text())
    except (OSError, ValueError):
        return None
    if doc.get("status") != FINISHED or doc.get("config_sha256") != config_sha256(config):
        return None
    outputs = doc.get("outputs") or []
    for entry in outputs:
        path = output.parent / entry.get("path", "")
        if not path.is_file() or sha256_file(path) != entry.get("sha256"):
            return None
    recorded_input = (doc.get("input") or {}).get("sha256")
    if not outputs or not Path(spec).is_file() or recorded_input != sha256_file(Path(spec)):
        return None
    return doc


def result_from_manifest(spec: str, output: Path, doc: dict, status: str) -> FileResult:
    stats = doc.get("stats") or {}
    frames = doc.get("frames") or []
    return FileResult(
        input=spec,
        output=str(output),
        status=status,
        frames=int(stats.get("frames_out", len(frames))),
        faces=int(stats.get("faces_enhanced", 0)),
        elapsed_s=float(stats.get("elapsed_s", 0.0)),
        fps=float(stats.get("fps", 0.0)),
        segments=len(doc.get("segments") or []),
        frame_sha256=[f["frame_sha256"] for f in frames],
    )


def run_job(spec: str, config_data: dict, output: str, worker: BatchWorker | None = None) -> dict:
    """The Ray task body: one input through one ``Job``. Returns the stats summary.

    ``worker``: the actor running it, whose loaded models the job borrows and whose
    cancellation flag it watches (None: a plain call, models loaded for this job alone).
    Bad input comes back as a result (not retried); anything else raises: the driver
    retries the file on a fresh worker.
    """
    worker_env()
    from streamproc.run.job import Job

    try:
        model_cache = None if worker is None else worker.models
        job = Job([spec], config_from_dict(config_data), Path(output), model_cache=model_cache)
        job.start()
        try:
            # Short joins: a stop (Ray's cancel: an exception between bytecodes in a task,
            # a flag in an actor) is seen within 0.2 s, not when the whole file is done.
            while job.pipeline.alive():
                job.pipeline.join(timeout_s=0.2)
                if worker is not None and worker.cancelled():
                    raise KeyboardInterrupt
        except KeyboardInterrupt:  # the driver was stopped and cancelled this task
            job.pipeline.request_stop()
            job.finish(INTERRUPTED)  # a playable file and a manifest that says so
            if worker is None:
                raise
            return {"error": "stopped before the end", "bad_input": False}
        (summary,) = job.finish(FINISHED)
    except StreamprocError as err:
        return {"error": " ".join(str(err).split()), "bad_input": True}
    return {"summary": summary}


Task = Callable[[str, dict, str, "BatchWorker | None"], dict]


class BatchWorker:
    """A Ray actor: one worker process that runs batch tasks one at a time and keeps the
    models they loaded (:class:`~streamproc.run.models.ModelCache`) for the next, which
    a plain Ray task paid again for every file (~1 s each on 2 cores)."""

    def __init__(self, task: Task) -> None:
        from streamproc.run.models import ModelCache

        self.task = task
        self.models = ModelCache()

    def run(self, spec: str, config_data: dict, output: str) -> dict:
        return self.task(spec, config_data, output, self)

    def cancelled(self) -> bool:
        import ray

        return ray.get_runtime_context().is_canceled()

    def loads(self) -> int:
        """Models this worker has loaded so far (a second file with the same config: 0 more)."""
        return self.models.loads


def _init_ray(options: BatchOptions, config: Config) -> Any:
    # GPUs are detected only when asked for, so a CPU run never touches CUDA.
    num_gpus = None if options.gpus_per_worker > 0 else 0
    warning = unused_gpu_warning(config, options.gpus_per_worker)
    if warning:
        log.warning("%s", warning)
    return init_ray(options.ray_address, options.workers or os.cpu_count() or 1, num_gpus)


def run_batch(
    specs: Iterable[str],
    config: Config,
    options: BatchOptions,
    task: Task = run_job,
    on_result: Callable[[FileResult], None] | None = None,
    stop: threading.Event | None = None,
) -> list[FileResult]:
    """Process every input (resuming finished ones); always shuts Ray down.

    When ``stop`` is set, nothing new starts, running tasks are cancelled (each closes its
    file and writes an "interrupted" manifest) and every unfinished input is reported
    ``interrupted``; a later run picks them up again.
    """
    specs = list(specs)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    options = replace(options, out_dir=options.out_dir.resolve())  # tasks may run elsewhere
    results: dict[str, FileResult] = {}
    todo: list[tuple[str, Path]] = []
    for spec in specs:
        output = output_for(spec, options.out_dir)
        doc = finished_manifest(output, spec, config)
        if doc is not None:
            results[spec] = result_from_manifest(spec, output, doc, SKIPPED)
            if on_result:
                on_result(results[spec])
        else:
            todo.append((spec, output))
    if todo:
        ray = _init_ray(options, config)
        try:
            for result in _schedule(ray, todo, config, options, task, stop or threading.Event()):
                results[result.input] = result
                if on_result:
                    on_result(result)
        finally:
            ray.shutdown()
    return [results[spec] for spec in specs]


class _Workers:
    """The batch's actors: ``workers`` of them, each idle or running one unit. A worker
    whose task failed (its process crashed, or an unexpected error) or ran past
    ``task_timeout_s`` is killed and replaced by a fresh one: the driver retries the
    unit (:func:`_schedule`), never Ray, which spent the retries of a task while its actor
    was still restarting."""

    def __init__(self, ray, task: Task, options: BatchOptions, count: int) -> None:
        self._actor = ray.remote(BatchWorker).options(
            num_cpus=1, num_gpus=options.gpus_per_worker, max_restarts=0
        )
        self._ray, self._task = ray, task
        self.idle = [self._actor.remote(task) for _ in range(count)]
        self.busy: dict[Any, Any] = {}  # ref -> actor

    def submit(self, *args: Any) -> Any:
        actor = self.idle.pop()
        ref = actor.run.remote(*args)
        self.busy[ref] = actor
        return ref

    def done(self, ref: Any) -> None:
        self.idle.append(self.busy.pop(ref))

    def replace(self, ref: Any) -> None:
        """Kill the worker that ran ``ref`` (if still alive) and start a fresh one."""
        self._ray.kill(self.busy.pop(ref), no_restart=True)
        self.idle.append(self._actor.remote(self._task))


def _worker_count(ray, options: BatchOptions) -> int:
    """``--workers``, else as many workers as the cluster has slots for (one CPU each, and
    ``gpus_per_worker``): an actor per file would load the models once per file again."""
    if options.workers:
        return options.workers
    resources = ray.cluster_resources()
    slots = int(resources.get("CPU", 1))
    if options.gpus_per_worker > 0:
        slots = min(slots, int(resources.get("GPU", 0) / options.gpus_per_worker))
    return max(1, slots)


def _schedule(ray, todo, config, options, task, stop: threading.Event) -> Iterable[FileResult]:
    """Submit units to the workers (one each at a time) and yield results as they finish."""
    from streamproc.scale import segments as batch_segments

    config_data = config_to_dict(config)
    # A unit is a whole file, or one segment of a long file; segments are joined at the end.
    units: list[tuple[str, str, str]] = []  # (spec, unit_input, unit_output)
    plans: dict[str, batch_segments.SegmentPlan] = {}
    failed: dict[str, FileResult] = {}
    for spec, output in todo:
        if options.segment_s > 0:
            try:
                plan = batch_segments.split(Path(spec), output, options.segment_s)
            except StreamprocError as err:
                failed[spec] = _failed(spec, output, str(err), bad_input=True)
                continue
            if plan is not None:
                plans[spec] = plan
                pairs = zip(plan.inputs, plan.outputs, strict=True)
                units += [(spec, str(seg_in), str(seg_out)) for seg_in, seg_out in pairs]
                continue
        units.append((spec, portable_path(spec), str(output)))
    yield from failed.values()
    if not units:
        return
    workers = _Workers(ray, task, options, min(_worker_count(ray, options), len(units)))
    pending: dict[Any, tuple[str, str, str]] = {}
    unit_results: dict[str, list[dict]] = {}
    queue = list(units)
    started: dict[Any, float] = {}
    retried: dict[tuple[str, str, str], int] = {}
    timeout_s = options.task_timeout_s
    while queue or pending:
        if stop.is_set():
            yield from _interrupt(ray, pending, queue, todo)
            return
        while queue and workers.idle:
            unit = queue.pop(0)
            ref = workers.submit(unit[1], config_data, unit[2])
            pending[ref], started[ref] = unit, time.monotonic()
        for ref, value in _next_results(ray, pending, started, timeout_s, workers):
            unit = pending.pop(ref)
            if value.get(_CRASHED) and retried.get(unit, 0) < options.max_retries:
                retried[unit] = retried.get(unit, 0) + 1
                queue.insert(0, unit)  # on a fresh worker
                continue
            spec, _, unit_out = unit
            if spec not in plans:
                yield _from_value(spec, Path(unit_out), value)
                continue
            unit_results.setdefault(spec, []).append(value)
            if len(unit_results[spec]) == len(plans[spec].outputs):
                yield _join(spec, plans[spec], unit_results[spec], options.keep_segments)


def _interrupt(ray, pending: dict, queue: list, todo: list) -> Iterable[FileResult]:
    """Cancel the running tasks (gracefully: each finishes its file), report the rest."""
    for ref in pending:
        ray.cancel(ref)
    if pending:
        ray.wait(list(pending), num_returns=len(pending), timeout=STOP_GRACE_S)
    outputs = dict(todo)
    unfinished = dict.fromkeys(unit[0] for unit in [*pending.values(), *queue])
    for spec in unfinished:
        yield FileResult(spec, str(outputs[spec]), INTERRUPTED, error="stopped before the end")


def _next_results(
    ray, pending: dict, started: dict, timeout_s: float, workers: _Workers
) -> list[tuple[Any, dict]]:
    """The next finished task, or the tasks that ran past ``timeout_s`` (their workers
    killed). Waits at most a second, so a stop request is seen promptly; ``[]`` if
    nothing is done."""
    ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
    if ready:
        try:
            value = ray.get(ready[0])
        except Exception as err:  # noqa: BLE001 - Ray wraps task and worker errors
            error = f"{type(err).__name__}: {first_line(err)}"
            workers.replace(ready[0])
            return [(ready[0], {"error": error, "bad_input": False, _CRASHED: True})]
        workers.done(ready[0])
        return [(ready[0], value)]
    now, expired = time.monotonic(), []
    for ref in pending:
        if timeout_s > 0 and now - started[ref] > timeout_s:
            workers.replace(ref)
            error = f"timed out after {timeout_s:g} s (--task-timeout-s); cancelled"
            expired.append((ref, {"error": error, "bad_input": False}))
    return expired


def _join(spec: str, plan, values: list[dict], keep_segments: bool) -> FileResult:
    from streamproc.scale import segments as batch_segments

    errors = [v for v in values if "error" in v]
    if errors:
        bad = all(v.get("bad_input") for v in errors)
        return _failed(spec, plan.output, errors[0]["error"], bad_input=bad)
    try:
        doc = batch_segments.join(plan, Path(spec))
    except (StreamprocError, OSError, ValueError) as err:
        return _failed(spec, plan.output, f"join failed: {err}")  # segments kept to inspect
    if not keep_segments:
        batch_segments.remove(plan)
    return result_from_manifest(spec, plan.output, doc, FINISHED)


def _from_value(spec: str, output: Path, value: dict) -> FileResult:
    if "error" in value:
        return _failed(spec, output, value["error"], value.get("bad_input", False))
    try:
        doc = json.loads(manifest_path(output).read_text())
    except (OSError, ValueError) as err:
        return _failed(spec, output, f"no manifest after the run: {err}")
    return result_from_manifest(spec, output, doc, FINISHED)


def _failed(spec: str, output: Path, error: str, bad_input: bool = False) -> FileResult:
    return FileResult(spec, str(output), FAILED, error=error, bad_input=bad_input)


def exit_code(results: list[FileResult]) -> int:
    if any(r.status == INTERRUPTED for r in results):
        return EXIT_INTERRUPTED
    failed = [r for r in results if r.status == FAILED]
    if not failed:
        return EXIT_OK
    return EXIT_BAD_INPUT if all(r.bad_input for r in failed) else EXIT_FAILED


def totals(results: list[FileResult], wall_s: float) -> dict[str, Any]:
    done = [r for r in results if r.status != FAILED]
    frames = sum(r.frames for r in results if r.status == FINISHED)
    return {
        "files": len(results),
        "finished": sum(r.status == FINISHED for r in results),
        "skipped": sum(r.status == SKIPPED for r in results),
        "failed": sum(r.status == FAILED for r in results),
        "interrupted": sum(r.status == INTERRUPTED for r in results),
        "frames": sum(r.frames for r in done),
        "faces": sum(r.faces for r in done),
        "wall_s": round(wall_s, 3),
        # Throughput of this run: frames processed now (not skipped) per wall second.
        "fps": round(frames / wall_s, 2) if wall_s > 0 else 0.0,
    }


def write_summary(out_dir: Path, results: list[FileResult], wall_s: float) -> dict[str, Any]:
    """summary.json (everything but per-frame hashes) and summary.md (the table)."""
    files = []
    for r in results:
        row = asdict(r)
        row.pop("frame_sha256")
        files.append(row)
    doc = {"totals": totals(results, wall_s), "files": files}
    (out_dir / "summary.json").write_text(json.dumps(doc, indent=1))
    lines = [
        "| input | status | frames | faces | fps | error |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in results:
        error = (r.error or "").replace("|", "\\|")
        lines.append(
            f"| {Path(r.input).name} | {r.status} | {r.frames} | {r.faces} | {r.fps:.1f} "
            f"| {error} |"
        )
    t = doc["totals"]
    lines.append(
        f"\n{t['files']} files: {t['finished']} finished, {t['skipped']} skipped, "
        f"{t['failed']} failed, {t['interrupted']} interrupted; {t['frames']} frames, "
        f"{t['faces']} faces; "
        f"{t['fps']:.1f} frames/s over {t['wall_s']:.1f} s\n"
    )
    (out_dir / "summary.md").write_text("\n".join(lines))
    return doc


def print_summary(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="streamproc batch")
    for name in ("input", "status", "frames", "faces", "fps", "error"):
        table.add_column(name, justify="right" if name in ("frames", "faces", "fps") else "left")
    style = {FINISHED: "green", SKIPPED: "cyan", FAILED: "red", INTERRUPTED: "yellow"}
    for row in doc["files"]:
        table.add_row(
            Path(row["input"]).name,
            f"[{style[row['status']]}]{row['status']}[/]",
            str(row["frames"]),
            str(row["faces"]),
            f"{row['fps']:.1f}",
            row["error"] or "",
        )
    t = doc["totals"]
    table.caption = (
        f"{t['files']} files, {t['failed']} failed, {t['frames']} frames, {t['faces']} faces, "
        f"{t['fps']:.1f} frames/s"
    )
    Console(stderr=True).print(table)


def main_batch(
    specs: list[str],
    config: Config,
    options: BatchOptions,
    quiet: bool,
    stop: threading.Event | None = None,
) -> int:
    if not specs:
        raise StreamprocError("batch needs at least one input file")
    start = time.monotonic()
    results = run_batch(specs, config, options, stop=stop)
    doc = write_summary(options.out_dir, results, time.monotonic() - start)
    if not quiet:
        print_summary(doc)
    return exit_code(results)
