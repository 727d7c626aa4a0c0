"""The rich live dashboard: fps per stage, queue depths, faces/s, drops, latency."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from streamproc.core.stats import PipelineStats


class Dashboard:
    """Reads one input's stats and the engine's queue depths; never touches the engine."""

    def __init__(
        self,
        stats: PipelineStats,
        queue_depths: Callable[[], dict[str, int]],
        title: str,
        total_frames: int,
        live: bool,
    ) -> None:
        self.stats, self.queue_depths, self.live = stats, queue_depths, live
        self.title = title
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} frames"),
            TimeRemainingColumn(),
        )
        self._task = self.progress.add_task(title, total=total_frames or None)

    def render(self) -> Group:
        stats = self.stats
        self.progress.update(self._task, completed=stats.frames_out)
        table = Table(title=f"streamproc - {self.title} [{stats.status}]", expand=False)
        for column in ("stage", "frames", "ms/frame", "capacity fps", "waiting"):
            table.add_column(column, justify="right" if column != "stage" else "left")
        depths = self.queue_depths()
        for stage in stats.stages.values():
            table.add_row(
                stage.name,
                str(stage.frames),
                f"{stage.ms_per_frame:.1f}",
                f"{stage.capacity_fps:.1f}",
                str(depths.get(stage.name, "")),
            )
        elapsed = stats.elapsed_s
        footer = Table.grid(padding=(0, 2))
        footer.add_row(
            f"fps [bold]{stats.fps:.1f}[/]",
            f"faces/s {stats.faces / elapsed:.1f}",
            f"enhanced {stats.faces_enhanced}",
            f"fused {stats.faces_fused}",
            f"dropped {stats.dropped}",
            f"latency p50 {stats.latency_percentile_ms(50):.0f} ms "
            f"p95 {stats.latency_percentile_ms(95):.0f} ms",
        )
        parts = [table, footer]
        if not self.live:
            parts.insert(0, self.progress)
        return Group(*parts)
