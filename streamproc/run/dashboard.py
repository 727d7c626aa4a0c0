"""The rich live dashboard: fps per stage, queue depths, faces/s, drops, latency, and one
row per camera with its health (status and reason, last frame age, reconnects).

Log lines go above the live display, through its console (:func:`logs_above`): written
straight to stderr under a live display they leave stacks of its header behind. Every
text that comes from outside (status, names, errors) is escaped: ``[reconnecting]`` is
rich markup otherwise, and vanishes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from streamproc.web.monitor import RateMeter, camera_view, unopened_view

if TYPE_CHECKING:
    from streamproc.core.pipeline import Pipeline

STATUS_STYLE = {
    "live": "green",
    "running": "green",
    "ended": "dim",
    "failed": "bold red",
}  # anything else (starting, connecting, reconnecting, slow, finishing): yellow


class ConsoleLogHandler(logging.Handler):
    """Prints each record through a rich console: above its live display, not under it."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except (TypeError, ValueError):  # a bad format string: say so, never crash
            self.handleError(record)
            return
        style = "red" if record.levelno >= logging.ERROR else "yellow"
        self.console.print(Text(message, style=style), soft_wrap=True)


@contextlib.contextmanager
def logs_above(console: Console) -> Iterator[None]:
    """While the live display runs, the root logger's stream handlers print through
    ``console`` (same format and filters); restored afterwards."""
    root = logging.getLogger()
    saved = list(root.handlers)
    replaced = []
    for handler in saved:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            live = ConsoleLogHandler(console)
            live.setFormatter(handler.formatter)
            live.setLevel(handler.level)
            for flt in handler.filters:
                live.addFilter(flt)
            replaced.append(live)
        else:
            replaced.append(handler)
    root.handlers[:] = replaced
    try:
        yield
    finally:
        root.handlers[:] = saved


def status_text(status: str) -> Text:
    return Text(f"[{status}]", style=STATUS_STYLE.get(status, "yellow"))


def _age(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.1f} s ago"


class Dashboard:
    """Reads the engine's counters and queue depths; never touches the engine."""

    def __init__(self, pipeline: Pipeline, title: str, total_frames: int = 0) -> None:
        self.pipeline = pipeline
        self.title = title
        self.meter = RateMeter()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} frames"),
            TimeRemainingColumn(),
        )
        # A progress bar only where there is an end to go to: one file.
        single_file = len(pipeline.cameras) == 1 and not pipeline.cameras[0].live
        self._task = (
            self.progress.add_task(escape(title), total=total_frames or None)
            if single_file
            else None
        )

    def cameras(self) -> list[dict]:
        views = [camera_view(cam, self.meter) for cam in self.pipeline.cameras]
        return views + [unopened_view(cam) for cam in self.pipeline.unopened]

    def render(self) -> Group:
        pipeline = self.pipeline
        stats = pipeline.stats
        cams = self.cameras()
        if self._task is not None:
            self.progress.update(self._task, completed=stats.frames_out)
        status = cams[0]["status"] if len(cams) == 1 else stats.status
        title = Text.assemble(f"streamproc - {self.title} ", status_text(status))
        table = Table(title=title, expand=False)
        for column in ("stage", "frames", "ms/frame", "capacity fps", "waiting"):
            table.add_column(column, justify="right" if column != "stage" else "left")
        depths = pipeline.queue_depths()
        for stage in stats.stages.values():
            if stage.name == "batch":
                continue
            table.add_row(
                stage.name,
                str(stage.frames),
                f"{stage.ms_per_frame:.1f}",
                f"{stage.capacity_fps:.1f}",
                str(depths.get(stage.name, "")),
            )
        parts = [table, self._cameras_table(cams), self._footer(cams)]
        if self._task is not None:
            parts.insert(0, self.progress)
        return Group(*parts)

    @staticmethod
    def _cameras_table(cams: list[dict]) -> Table:
        table = Table(expand=False, show_edge=False, pad_edge=False)
        for column in ("camera", "status", "fps", "frames", "dropped", "reconnects", "last frame"):
            table.add_column(column, justify="left" if column in ("camera", "status") else "right")
        table.add_column("reason / output", overflow="fold", max_width=60)
        for cam in cams:
            fps = (
                cam["fps"]
                if cam["recent_fps"] is None or cam["status"] == "ended"
                else (cam["recent_fps"])
            )
            table.add_row(
                Text(cam["name"]),
                status_text(cam["status"]),
                f"{fps:.1f}",
                str(cam["frames_out"]),
                str(cam["dropped"]),
                str(cam["reconnects"]),
                _age(cam["last_frame_age_s"]),
                Text(cam["reason"] or _outputs(cam)),
            )
        return table

    @staticmethod
    def _footer(cams: list[dict]) -> Table:
        """Totals over the cameras (with one camera: its numbers)."""
        fps = sum(c["recent_fps"] if c["recent_fps"] is not None else c["fps"] for c in cams)
        footer = Table.grid(padding=(0, 2))
        footer.add_row(
            f"fps [bold]{fps:.1f}[/]",
            f"faces {sum(c['faces'] for c in cams)}",
            f"enhanced {sum(c['faces_enhanced'] for c in cams)}",
            f"fused {sum(c['faces_fused'] for c in cams)}",
            f"dropped {sum(c['dropped'] for c in cams)}",
            f"latency p50 {max(c['latency_ms_p50'] for c in cams):.0f} ms "
            f"p95 {max(c['latency_ms_p95'] for c in cams):.0f} ms",
        )
        return footer


def _outputs(cam: dict) -> str:
    """Where a camera's frames go: its file, and its RTSP push with what it sent."""
    out = cam["output"] or ""
    push = cam.get("push")
    if push:
        state = f"error: {push['last_error']}" if push["last_error"] else "ok"
        out += (
            f" + push {push['url']} (sent {push['frames_sent']}, "
            f"dropped {push['frames_dropped']}, {state})"
        )
    return out
