"""``streamproc run``: the command line. Bad input is one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from streamproc import __version__
from streamproc.core.config import load_config
from streamproc.core.errors import StreamprocError
from streamproc.core.urls import mask_url

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _MaskingFilter(logging.Filter):
    """Belt and braces: no log line may carry camera credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_url(str(record.msg))
        if record.args:
            record.args = tuple(mask_url(a) if isinstance(a, str) else a for a in record.args)
        return True


class _ArgParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise StreamprocError(f"{message} (see {self.prog} --help)")

    def parse_args(self, args=None, namespace=None):  # leftovers: name the subcommand
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            raise StreamprocError(f"unrecognized arguments: {' '.join(extra)} (see {prog} --help)")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgParser(prog="streamproc", description="Enhance faces in CCTV video.")
    parser.add_argument("--version", action="version", version=f"streamproc {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_ArgParser)
    run = sub.add_parser("run", help="process a file, image(s), stream or camera")
    run.add_argument(
        "input",
        nargs="*",
        help="file, image, folder, rtsp://, http(s)://, "
        "/dev/videoN (default: the bundled sample clip); several inputs share one "
        "detector and enhancer",
    )
    run.add_argument(
        "--inputs", type=Path, metavar="FILE", help="YAML list of inputs (added to INPUT)"
    )
    run.add_argument(
        "-o",
        "--output",
        help="output file/folder ('null' discards frames); with several inputs or --serve, "
        "the folder for every camera's output (default out/)",
    )
    run.add_argument("--config", type=Path, help="YAML config (see configs/default.yaml)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. enhance.mode=both",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output (by default it is refused; the bundled sample's "
        "default output is always replaced)",
    )
    run.add_argument(
        "--faces",
        action="store_true",
        help="each input image is one face crop: enhance it whole, at its own size, under "
        "its own name (no detection, no tracking; images only)",
    )
    run.add_argument("--quiet", action="store_true", help="no dashboard, errors only")
    run.add_argument(
        "--serve", action="store_true", help="live monitor web page (grid of all inputs)"
    )
    run.add_argument("--host", help="monitor address (default serve.host: 127.0.0.1)")
    run.add_argument("--port", type=int, help="monitor port (default serve.port: 8080)")
    check = sub.add_parser("verify", help="re-run a recorded job on the CPU and compare")
    check.add_argument("manifest", type=Path, help="<output>.manifest.json")
    check.add_argument("--input", type=Path, help="the input, if it moved since the run")
    _add_batch_parser(sub)
    _add_fleet_parser(sub)
    prepare = sub.add_parser(
        "prepare",
        help="build what is derived on this machine: the int8 face detector (~20 s, once)",
    )
    prepare.add_argument("--config", type=Path, help="YAML config (see configs/default.yaml)")
    prepare.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    return parser


def _add_batch_parser(sub) -> None:
    batch = sub.add_parser("batch", help="process many files as Ray tasks (local or cluster)")
    batch.add_argument("inputs", nargs="+", metavar="INPUT", help="video files")
    batch.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    batch.add_argument("--ray-address", help="auto or HOST:PORT (default: a local cluster)")
    batch.add_argument("--workers", type=int, help="tasks in flight (local: its CPUs)")
    batch.add_argument("--gpus-per-worker", type=float, default=0.0)
    batch.add_argument(
        "--segment-s", type=float, default=0.0, help="cut files at keyframes every S s (0: off)"
    )
    batch.add_argument("--max-retries", type=int, default=2)
    batch.add_argument(
        "--task-timeout-s", type=float, default=0.0, help="cancel a task after S s (0: never)"
    )
    batch.add_argument(
        "--keep-segments", action="store_true", help="keep OUTDIR/.segments after joining"
    )
    batch.add_argument("--config", type=Path, help="YAML config (see configs/default.yaml)")
    batch.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    batch.add_argument("--quiet", action="store_true", help="no summary table")


def _add_fleet_parser(sub) -> None:
    fleet = sub.add_parser(
        "fleet", help="many cameras on a Ray cluster: one actor per camera group"
    )
    fleet.add_argument("inputs", nargs="*", metavar="INPUT", help="cameras (rtsp://, files)")
    fleet.add_argument(
        "--inputs",
        dest="inputs_file",
        type=Path,
        metavar="FILE",
        help="YAML: a list of cameras, or a mapping group name -> list of cameras",
    )
    fleet.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    fleet.add_argument("--cameras-per-group", type=int, default=4)
    fleet.add_argument("--gpus-per-group", type=float, default=0.0, help="fractions share a GPU")
    fleet.add_argument("--cpus-per-group", type=float, default=1.0)
    fleet.add_argument("--ray-address", help="auto or HOST:PORT (default: a local cluster)")
    fleet.add_argument("--local-gpus", type=int, help="GPUs of the local cluster (default: detect)")
    fleet.add_argument("--max-restarts", type=int, default=3, help="per group, after a crash")
    fleet.add_argument("--duration-s", type=float, default=0.0, help="stop after S s (0: never)")
    fleet.add_argument("--status-interval-s", type=float, default=1.0)
    fleet.add_argument("--config", type=Path, help="YAML config (see configs/default.yaml)")
    fleet.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    fleet.add_argument("--quiet", action="store_true", help="no live table")
    fleet.add_argument("--serve", action="store_true", help="status page on the driver")
    fleet.add_argument("--host", help="status page address (default serve.host: 127.0.0.1)")
    fleet.add_argument("--port", type=int, help="status page port (default serve.port: 8080)")


def cmd_fleet(args: argparse.Namespace) -> int:
    import yaml

    from streamproc.scale import fleet

    if not args.quiet:  # group state changes are news for the operator, not warnings
        logging.getLogger("streamproc.scale.fleet").setLevel(logging.INFO)
    overrides = _with_serve_flags(args)
    config = load_config(args.config, overrides)
    groups = []
    if args.inputs:
        groups += fleet.plan_groups(args.inputs, args.cameras_per_group)
    if args.inputs_file:
        try:
            data = yaml.safe_load(args.inputs_file.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise StreamprocError(f"cannot read inputs file {args.inputs_file}: {err}") from None
        more = fleet.groups_from_yaml(data, args.cameras_per_group)
        if groups:  # keep names unique when both are given
            more = [fleet.CameraGroup(f"f{g.name}", g.inputs) for g in more]
        groups += more
    if not groups:
        raise StreamprocError("fleet needs at least one camera (INPUT or --inputs FILE)")
    options = fleet.FleetOptions(
        out_dir=args.output,
        ray_address=args.ray_address,
        gpus_per_group=args.gpus_per_group,
        cpus_per_group=args.cpus_per_group,
        local_gpus=args.local_gpus,
        max_restarts=args.max_restarts,
        duration_s=args.duration_s,
        status_interval_s=args.status_interval_s,
        serve=args.serve,
    )
    stop = threading.Event()
    with _stop_on_signals(stop) as requests:
        if args.quiet or not sys.stderr.isatty():
            summary = fleet.run_fleet(groups, config, options, stop)
        else:
            from rich.console import Console
            from rich.live import Live

            with Live(console=Console(stderr=True), refresh_per_second=2) as live:
                summary = fleet.run_fleet(
                    groups, config, options, stop, lambda d: live.update(fleet.status_table(d))
                )
    if not args.quiet:
        print(fleet.summary_markdown(summary), file=sys.stderr)
    return fleet.exit_code(summary, interrupted=bool(requests))


def cmd_batch(args: argparse.Namespace) -> int:
    from streamproc.scale.batch import BatchOptions, main_batch

    if args.workers is not None and args.workers < 1:
        raise StreamprocError("--workers must be >= 1")
    options = BatchOptions(
        out_dir=args.output,
        ray_address=args.ray_address,
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        segment_s=args.segment_s,
        max_retries=args.max_retries,
        task_timeout_s=args.task_timeout_s,
        keep_segments=args.keep_segments,
    )
    config = load_config(args.config, args.overrides)
    stop = threading.Event()
    with _stop_on_signals(stop):
        return main_batch(args.inputs, config, options, args.quiet, stop)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[list[int]]:
    """First Ctrl-C/SIGTERM sets ``stop`` (finish cleanly); a second one interrupts now."""
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        if len(received) > 1:
            raise KeyboardInterrupt
        stop.set()

    with _handling_stops(on_signal):
        yield received


def _setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("streamproc: %(levelname)s: %(message)s"))
    handler.addFilter(_MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.ERROR if quiet else logging.WARNING)


def cmd_run(args: argparse.Namespace, startup_stops: list[int]) -> int:
    """``startup_stops``: signals received while starting up (see :func:`_interrupt`)."""
    from streamproc.run.job import SAMPLE_CLIP

    overrides = _with_serve_flags(args) + (["detect.whole_image=true"] if args.faces else [])
    config = load_config(args.config, overrides)
    specs = list(args.input)
    names: list[str | None] = [None] * len(specs)
    if args.inputs:
        more_specs, more_names = _read_inputs(args.inputs)
        specs, names = specs + more_specs, names + more_names
    # An existing output is refused unless --overwrite; only the bundled demo (no input,
    # no -o) may always be re-run, replacing out/sample.enhanced.mp4.
    overwrite = args.overwrite or not (specs or args.output)
    if config.detect.whole_image and (len(specs) > 1 or args.serve):
        raise StreamprocError("--faces takes one image or folder of face crops, without --serve")
    if len(specs) > 1 or args.serve:
        if not specs:
            specs, names = [str(SAMPLE_CLIP)], [None]
        return _run_several(
            specs, names, config, args.output, args.serve, args.quiet, overwrite, startup_stops
        )
    spec = specs[0] if specs else str(SAMPLE_CLIP)
    output = Path(args.output) if args.output else None
    job = _new_job(spec, config, output, overwrite, startup_stops)
    with _stop_gracefully(job.pipeline) as stop_requests:
        try:
            job.start()
            _watch(job, quiet=args.quiet)
        finally:
            status = "interrupted" if stop_requests else "finished"
            (summary,) = job.finish(status)
    if not args.quiet:
        print(
            f"streamproc: {status}: {summary['frames_out']} frames in {summary['elapsed_s']:.1f} s "
            f"({summary['fps']:.1f} fps), {summary['faces_enhanced']} faces enhanced, "
            f"{summary['dropped']} dropped -> {job.output}",
            file=sys.stderr,
        )
        _print_push(job.pipeline.cameras[0])
    return EXIT_INTERRUPTED if stop_requests else EXIT_OK


@contextlib.contextmanager
def _stop_gracefully(pipeline) -> Iterator[list[int]]:
    """While a pipeline runs: the first Ctrl-C/SIGTERM finishes the frames in flight (a
    playable file), a second one aborts now. Yields the signals received."""
    received: list[int] = []
    busy: list[bool] = []  # a handler is running (a signal can land inside the first)

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        if busy:  # the running handler sees it: setting an Event here could deadlock on
            return  # the lock the interrupted Event.set() holds
        busy.append(True)
        try:
            handled = 0
            while handled < len(received):
                handled = len(received)
                if handled > 1:
                    pipeline.abort.set()
                pipeline.request_stop()
        finally:
            busy.clear()

    with _handling_stops(on_signal):
        yield received


def _run_several(
    specs: list[str],
    names: list[str | None],
    config,
    output: str | None,
    serve: bool,
    quiet: bool,
    overwrite: bool,
    startup_stops: list[int],
) -> int:
    """``streamproc run A B ... [--serve]``: run until every camera ends or Ctrl-C/SIGTERM.

    A monitor keeps watching the cameras that answer; a plain run fails fast instead. The
    monitor is up before the inputs open and the models load (every camera "starting"),
    and stays up after every input has ended, until Ctrl-C/SIGTERM (an operator still
    looks at the last frames and faces). ``startup_stops``: signals received while
    starting up (a library may have swallowed their KeyboardInterrupt)."""
    from streamproc.run.job import Job
    from streamproc.web.monitor import default_names, name_cameras

    labels = default_names(names)
    server = state = None
    try:
        if serve:
            from streamproc.web.app import MonitorServer, MonitorState

            state = MonitorState(labels, specs)
            server = MonitorServer(state, config.serve.host, config.serve.port)
            print(f"streamproc: monitor at {server.url}", file=sys.stderr, flush=True)
        job = Job(
            specs,
            config,
            output,
            overwrite=overwrite,
            preview=serve,
            skip_unopenable=serve,
            folder=True,
            names=labels,
        )
        name_cameras(job.pipeline, labels)
        if startup_stops:
            job.pipeline.finish_without_start()
            raise KeyboardInterrupt
        if state is not None:
            state.attach(job.pipeline)
        with _stop_gracefully(job.pipeline) as stop_requests:
            try:
                for cam in job.pipeline.cameras:
                    if job.stream_url(cam) and not quiet:
                        print(
                            f"streamproc: camera {cam.name} preview at {job.stream_url(cam)}",
                            file=sys.stderr,
                        )
                job.start()
                _watch_pipeline(job.pipeline, "several inputs", 0, quiet)
            finally:
                interrupted = bool(stop_requests)
                summaries = job.finish("interrupted" if interrupted else "finished")
            if not quiet:
                _print_summaries(job, summaries, interrupted)
            if server is not None and not interrupted:
                print(
                    f"streamproc: every input has ended; the monitor stays at {server.url} "
                    "until Ctrl-C",
                    file=sys.stderr,
                    flush=True,
                )
                while not stop_requests:
                    threading.Event().wait(0.2)
    finally:
        if server is not None:
            server.close()
    # A camera that failed (its input, or its output: a full disk) fails the run, as one
    # input does; the others have still been recorded to their end.
    failed = [cam.error for cam in job.pipeline.cameras if cam.error is not None]
    if failed:
        raise failed[0]
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _print_summaries(job, summaries: list[dict], interrupted: bool) -> None:
    """One line per camera: its name, how it ended, and what it wrote (or that it wrote
    nothing: a camera that never connected has no file)."""
    for cam in job.pipeline.unopened:
        print(f"streamproc: camera {cam['name']} not started: {cam['error']}", file=sys.stderr)
    cams = zip(job.pipeline.cameras, summaries, job.outputs, strict=True)
    for cam, summary, output in cams:
        if cam.error is not None:
            status = "failed"
        elif cam.finished_by_itself:
            status = "finished"
        else:
            status = "interrupted" if interrupted else summary["status"]
        print(
            f"streamproc: camera {cam.name} ({cam.source.info.name}) {status}: "
            f"{summary['frames_out']} frames ({summary['fps']:.1f} fps), "
            f"{summary['faces_enhanced']} faces enhanced, {summary['dropped']} dropped, "
            f"{getattr(cam.source, 'reconnects', 0)} reconnects -> {_written(cam, output)}",
            file=sys.stderr,
        )
        _print_push(cam)


def _print_push(cam) -> None:
    """What a camera pushed to its RTSP server (``output.rtsp_push``), if it pushes."""
    from streamproc.run.job import rtsp_push

    push = rtsp_push(cam)
    if push is not None:
        stats = push.stats()
        print(
            f"streamproc: camera {cam.name} pushed to {stats['url']}: "
            f"{stats['frames_sent']} frames sent, {stats['frames_dropped']} dropped, "
            f"{stats['reconnects']} reconnects",
            file=sys.stderr,
        )


def _written(cam, output: Path | None) -> str:
    """What a camera wrote: its file, its parts, or nothing."""
    if output is None:
        return "null (not recorded)"
    parts = sorted(getattr(cam.sinks[0], "written", []))
    if parts:
        return f"{len(parts)} files in {output.parent}" if len(parts) > 1 else str(parts[0])
    if output.exists() and cam.stats.frames_out:
        return str(output)
    return "nothing written (no frames)"


def _new_job(spec: str, config, output: Path | None, overwrite: bool, startup_stops: list[int]):
    """The Job; a Ctrl-C/SIGTERM while it opens the input and loads models still leaves
    an ``interrupted`` manifest (0 frames) beside a named output."""
    from streamproc.audit.manifest import write_interrupted
    from streamproc.run.job import NULL_OUTPUTS, Job

    try:
        job = Job([spec], config, output, overwrite=overwrite)
        if startup_stops:  # a library swallowed the KeyboardInterrupt while loading
            job.discard()
            raise KeyboardInterrupt
        return job
    except KeyboardInterrupt:
        named = output is not None and str(output) not in NULL_OUTPUTS
        if named and (overwrite or not output.exists()):
            write_interrupted(output, spec, config)
        raise


def _with_serve_flags(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides plus ``--host``/``--port`` as the serve.* keys they stand for."""
    overrides = list(args.overrides)
    overrides += [f"serve.host={args.host}"] if args.host else []
    overrides += [f"serve.port={args.port}"] if args.port is not None else []
    return overrides


def _read_inputs(path: Path) -> tuple[list[str], list[str | None]]:
    """(inputs, names) from a YAML list of inputs; an entry ``name: input`` (or the whole
    file as a mapping name -> input) names its camera on the monitor and dashboard."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise StreamprocError(f"cannot read inputs list {path}: {err}") from None
    if isinstance(data, dict):
        data = [{name: spec} for name, spec in data.items()]
    if not isinstance(data, list):
        raise StreamprocError(f"{path} must be a YAML list of inputs (or of name: input)")
    specs: list[str] = []
    names: list[str | None] = []
    for n, entry in enumerate(data, 1):
        name = None
        if isinstance(entry, dict) and len(entry) == 1:
            name, entry = next(iter(entry.items()))
            name = str(name)
        if not isinstance(entry, str):
            raise StreamprocError(
                f"{path}: entry {n} must be an input (a path or URL as text) or "
                f"name: input, got {entry!r}"
            )
        specs.append(entry)
        names.append(name)
    if len({n for n in names if n}) < len([n for n in names if n]):
        raise StreamprocError(f"{path}: two cameras have the same name")
    return specs, names


def cmd_prepare(args: argparse.Namespace) -> int:
    """Load the detector as ``run`` would, which builds its int8 copy when ``detect.precision``
    chooses int8, and compile its graph for 16:9 and 4:3 frames and for busy scenes' face
    tiles, 1-4 a call (install.sh runs this, so a first run does not pay ~20 s of
    quantizing and 0.25-2.5 s a compile, mid-stream for the tiles)."""
    import numpy as np

    from streamproc.vision.detect import load_detector
    from streamproc.vision.motion import TILE_BATCH, TILE_PX

    config = load_config(args.config, args.overrides)
    started = time.monotonic()
    model = load_detector(config.detect)
    try:
        for width, height in ((1280, 720), (640, 480)):
            frame = np.zeros((height, width, 3), np.uint8)
            model.engine.detect([frame], config.detect.imgsz, fixed_shape=True)
        tile = np.zeros((TILE_PX, TILE_PX, 3), np.uint8)
        for count in range(1, TILE_BATCH + 1):  # busy scenes' face tiles, a call each
            model.engine.detect([tile] * count, TILE_PX, fixed_shape=True)
    finally:
        model.close()
    print(
        f"streamproc: face detector ready ({model.precision}, {time.monotonic() - started:.1f} s):"
        f" {model.path}"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from streamproc.run.verify import verify

    result = verify(args.manifest, args.input)
    print(f"streamproc: {result.message}")
    return EXIT_OK if result.verified else EXIT_INTERNAL


def _watch(job, quiet: bool) -> None:
    """Keep the main thread free for signals while the pipeline runs; draw the dashboard."""
    if job.mjpeg_url and not quiet and sys.stderr.isatty():
        print(f"streamproc: live preview at {job.mjpeg_url}", file=sys.stderr)
    info = job.source.info
    _watch_pipeline(job.pipeline, info.name, info.frame_count, quiet)


def _watch_pipeline(pipeline, title: str, total_frames: int, quiet: bool) -> None:
    """Until the pipeline's threads end: the live dashboard on a terminal (log lines
    printed above it), else just wait."""
    if quiet or not sys.stderr.isatty():
        while pipeline.alive():
            pipeline.join(timeout_s=0.2)
        return
    from rich.console import Console
    from rich.live import Live

    from streamproc.run.dashboard import Dashboard, logs_above

    board = Dashboard(pipeline, title, total_frames)
    console = Console(stderr=True)
    with Live(board.render(), console=console, refresh_per_second=4) as live, logs_above(console):
        while pipeline.alive():
            pipeline.join(timeout_s=0.25)
            live.update(board.render())
        live.update(board.render())


@contextlib.contextmanager
def _handling_stops(handler) -> Iterator[None]:
    """``handler`` for Ctrl-C and SIGTERM while the block runs; the previous ones after."""
    previous = {s: _set_handler(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            _set_handler(signum, old)


def _set_handler(signum: int, handler):
    """Install a signal handler where Python allows it (the main thread); return the old."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signum, handler)


def _interrupt(received: list[int], signum: int, _frame: object) -> None:
    """Start-up handler: interrupt now, and remember it, because some libraries swallow
    every exception while they load (ultralytics' ``TryExcept`` returns True from
    ``__exit__``), KeyboardInterrupt included."""
    received.append(signum)
    raise KeyboardInterrupt


def _interrupted(quiet: bool) -> int:
    if not quiet:  # as a stop mid-run: --quiet prints errors only, exit 130 says it
        print("streamproc: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    # Until a pipeline runs (and installs its graceful handler), SIGTERM acts as Ctrl-C.
    startup_stops: list[int] = []
    quiet = False
    with _handling_stops(functools.partial(_interrupt, startup_stops)):
        try:
            args = build_parser().parse_args(argv)
            quiet = getattr(args, "quiet", False)
            _setup_logging(quiet)
            if args.command == "run":
                return cmd_run(args, startup_stops)
            if args.command == "verify":
                return cmd_verify(args)
            if args.command == "batch":
                return cmd_batch(args)
            if args.command == "fleet":
                return cmd_fleet(args)
            if args.command == "prepare":
                return cmd_prepare(args)
            build_parser().print_help(sys.stderr)
            return EXIT_USAGE
        except StreamprocError as err:
            # One line, always: messages from libraries may span several.
            print(f"streamproc: error: {mask_url(' '.join(str(err).split()))}", file=sys.stderr)
            return err.exit_code
        except KeyboardInterrupt:
            return _interrupted(quiet)
        except Exception as err:  # noqa: BLE001 - last resort: one line, not a traceback
            if os.environ.get("STREAMPROC_DEBUG"):
                raise
            if startup_stops:  # what an interrupted import made of the KeyboardInterrupt
                return _interrupted(quiet)
            print(
                f"streamproc: internal error: {type(err).__name__}: {mask_url(str(err))} "
                "(set STREAMPROC_DEBUG=1 for a traceback)",
                file=sys.stderr,
            )
            return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
