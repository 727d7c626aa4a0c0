"""Turn the raw results into figures, ratios, targets, tables, markdown and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The mode whose end-to-end fps is held against the targets (the lite generator's job).
TARGET_MODE = "generator"


def _e2e(results: dict, clip: str, mode: str, output: str) -> dict | None:
    for row in results["end_to_end"]:
        if (row["clip"], row["mode"], row["output"]) == (clip, mode, output):
            return row
    return None


def _target_mode(results: dict) -> str:
    modes = [r["mode"] for r in results["end_to_end"]]
    return TARGET_MODE if TARGET_MODE in modes else modes[0]


def figures(results: dict) -> dict[str, float]:
    """Every measured rate, time and size, flat: each one must be positive and finite."""
    out: dict[str, float] = {}
    for clip, io in results["io"].items():
        out[f"decode_fps[{clip}]"] = io["decode"]["fps"]
        out[f"decode_encode_fps[{clip}]"] = io["decode_encode"]["fps"]
    for row in results["detection"]:
        out[f"detect_ms_per_frame[imgsz={row['imgsz']}]"] = row["ms_per_frame"]
    for key in ("classical_ms_per_face", "composite_ms_per_face", "generator_pre_post_ms_per_face"):
        out[key] = results["per_face"][key]
    gen = results["generator"]
    for name, rows in gen.items():
        if name.startswith("ort_"):
            for row in rows:
                out[f"{name}_faces_per_s[b={row['batch']}]"] = row["faces_per_s"]
    out["torch_b1_faces_per_s"] = gen["torch_b1"]["faces_per_s"]
    for row in results["end_to_end"]:
        out[f"e2e_fps[{row['clip']}|{row['mode']}|{row['output']}]"] = row["fps"]
    live = results["live"]
    out["live_fps"] = live["fps"]
    out["live_latency_ms_p50"] = live["latency_ms_p50"]
    out["live_latency_ms_p95"] = live["latency_ms_p95"]
    out["peak_rss_mb"] = results["peak_rss_mb"]
    return out


def ratios(results: dict) -> dict[str, float]:
    mode = _target_mode(results)
    out = {}
    for clip, io in results["io"].items():
        row = _e2e(results, clip, mode, "file")
        if row is not None:
            out[f"e2e_over_ceiling[{clip}|{mode}]"] = row["fps"] / io["decode_encode"]["fps"]
    gen = results["generator"]
    best = max(r["faces_per_s"] for r in gen["ort_fp32"])
    out["ort_batched_over_torch_b1"] = best / gen["torch_b1"]["faces_per_s"]
    return out


def _clip_at(results: dict, height_px: int) -> str | None:
    for clip, io in results["io"].items():
        if io["height_px"] == height_px:
            return clip
    return None


def _target(name: str, value: float | None, threshold: float, applies: bool, note: str) -> dict:
    met = None if (value is None or not applies) else bool(value >= threshold)
    return {"target": name, "value": value, "threshold": threshold, "met": met, "note": note}


def targets(results: dict, ratio: dict[str, float], gpu: bool) -> list[dict]:
    mode = _target_mode(results)
    size = results["generator_model"]["config"]["input_size"]
    cpu_note = "CPU run, 720p" if not gpu else "applies to CPU runs"
    clip720 = _clip_at(results, 720)
    row720 = _e2e(results, clip720, mode, "file") if clip720 else None
    clip1080 = _clip_at(results, 1080)
    fp16 = results["generator"].get("ort_fp16")
    gpu_note = "GPU run" if gpu else "applies to GPU runs (--providers cuda,cpu)"
    return [
        _target(
            f"CPU 720p e2e fps ({mode}, file) >= 25",
            row720["fps"] if row720 else None,
            25.0,
            not gpu,
            cpu_note,
        ),
        _target(
            "CPU 720p e2e / decode+encode ceiling >= 0.5",
            ratio.get(f"e2e_over_ceiling[{clip720}|{mode}]"),
            0.5,
            not gpu,
            cpu_note,
        ),
        _target(
            "ORT batched / torch eager batch-1 faces/s >= 3",
            ratio["ort_batched_over_torch_b1"],
            3.0,
            True,
            "same network, same device",
        ),
        _target(
            f"GPU fp16 faces/s at {size}px >= 2000",
            max(r["faces_per_s"] for r in fp16) if fp16 else None,
            2000.0,
            gpu and size == 128,
            gpu_note,
        ),
        _target(
            "GPU 1080p e2e / decode+encode ceiling >= 0.6",
            ratio.get(f"e2e_over_ceiling[{clip1080}|{mode}]"),
            0.6,
            gpu,
            gpu_note,
        ),
    ]


def summarise(results: dict, gpu: bool) -> dict[str, Any]:
    ratio = ratios(results)
    return {"figures": figures(results), "ratios": ratio, "targets": targets(results, ratio, gpu)}


# --- presentation ---------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _met(target: dict) -> str:
    return {True: "MET", False: "NOT MET", None: "n/a"}[target["met"]]


def tables(results: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for the console and the markdown file."""
    out = []
    rows = [
        [
            clip,
            f"{io['width_px']}x{io['height_px']}@{io['fps']:g}",
            _fmt(io["decode"]["fps"]),
            _fmt(io["decode_encode"]["fps"]),
        ]
        for clip, io in results["io"].items()
    ]
    out.append(("Decode / encode", ["clip", "format", "decode fps", "decode+encode fps"], rows))
    rows = [
        [str(r["imgsz"]), _fmt(r["ms_per_frame"]), _fmt(r["fps"]), _fmt(r["faces_per_frame"])]
        for r in results["detection"]
    ]
    out.append(("Detection (every frame)", ["imgsz", "ms/frame", "fps", "faces/frame"], rows))
    gen = results["generator"]
    rows = []
    for name, value in gen.items():
        for r in value if isinstance(value, list) else [value]:
            rows.append([name, str(r["batch"]), _fmt(r["ms_per_batch"]), _fmt(r["faces_per_s"])])
    model = results["generator_model"]
    title = f"Generator ({model['name']}, {model['params']:,} params)"
    out.append((title, ["runner", "batch", "ms/batch", "faces/s"], rows))
    pf = results["per_face"]
    rows = [
        ["classical enhancer", _fmt(pf["classical_ms_per_face"])],
        ["composite (paste-back)", _fmt(pf["composite_ms_per_face"])],
        ["generator pre+post", _fmt(pf["generator_pre_post_ms_per_face"])],
    ]
    title = f"Per face ({pf['faces']} crops from {pf['crops_from']}, {pf['crop_px_median']:g} px)"
    out.append((title, ["stage", "ms/face"], rows))
    rows = []
    for r in [*results["end_to_end"], {**results["live"], "output": "file (live)"}]:
        depths = " ".join(f"{k}:{v}" for k, v in r["max_queue_depths"].items())
        rows.append(
            [
                r["clip"],
                r["mode"],
                r["output"],
                _fmt(r["fps"]),
                _fmt(r["faces_per_frame"]),
                f"{_fmt(r['latency_ms_p50'])} / {_fmt(r['latency_ms_p95'])}",
                str(r["dropped"]),
                depths,
                _fmt(r["peak_rss_mb"]),
            ]
        )
    header = ["clip", "mode", "output", "fps", "faces/frame", "latency p50/p95 ms", "dropped"]
    out.append(("End to end", [*header, "max queue depth", "peak RSS MB"], rows))
    return out


def print_tables(results: dict, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    for title, header, rows in tables(results):
        table = Table(title=title, title_justify="left")
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)
    live = results["live"]
    console.print(
        f"[bold]Live[/] ({live['clip']} paced at {live['source_fps']:g} fps, {live['mode']}): "
        f"latency p50 {live['latency_ms_p50']:.0f} ms, p95 {live['latency_ms_p95']:.0f} ms, "
        f"{live['dropped']} dropped; peak RSS {results['peak_rss_mb']:.0f} MB"
    )
    if "realtime" in results:
        from benchmarks.realtime import lines

        console.print("[bold]Real time (issue 15)[/]")
        for line in lines(results["realtime"]):
            console.print("  " + escape(line))
    console.print("[bold]Ratios[/]")
    for name, value in results["ratios"].items():
        console.print(f"  {escape(name)} = {value:.2f}")
    console.print("[bold]Targets[/]")
    colour = {True: "green", False: "red", None: "dim"}
    for t in results["targets"]:
        console.print(
            f"  [{colour[t['met']]}]{_met(t):7}[/] {escape(t['target'])}: {_fmt(t['value'])} "
            f"(need {t['threshold']:g}; {escape(t['note'])})"
        )


def markdown(results: dict) -> str:
    env = results["env"]
    lines = [
        "# streamproc-bench results",
        "",
        f"{env['utc']} on {env['host']} ({env['cpus']} CPUs, {env['platform']}); ORT "
        f"{env['onnxruntime']} providers {env['providers']}, detect device "
        f"{env['detect_device']}, torch {env['torch']} ({env['torch_threads']} threads)"
        f"{', quick' if env['quick'] else ''}; took {results['bench_s']:.0f} s.",
        "",
    ]
    for title, header, rows in tables(results):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    if "realtime" in results:
        from benchmarks.realtime import lines as realtime_lines

        lines += ["## Real time (issue 15)", ""]
        lines += [f"    {line}" for line in realtime_lines(results["realtime"])] + [""]
    lines += ["## Ratios", "", "| ratio | value |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in results["ratios"].items()]
    lines += ["", "## Targets", "", "| target | value | status | note |", "|---|---|---|---|"]
    lines += [
        f"| {t['target']} | {_fmt(t['value'])} | {_met(t)} | {t['note']} |"
        for t in results["targets"]
    ]
    return "\n".join(lines) + "\n"


def plots(results: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(6, 4))
    series: dict[str, list[tuple[float, float]]] = {}
    for r in results["end_to_end"]:
        if r["output"] != "null":
            continue
        res = f"{results['io'][r['clip']]['height_px']}p" if r["clip"] in results["io"] else "720p"
        series.setdefault(f"{r['mode']} {res}", []).append((r["faces_per_frame"], r["fps"]))
    for label, points in sorted(series.items()):
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, marker="o", label=label)
    ax.set(xlabel="faces per frame (detected)", ylabel="end-to-end fps (-o null)")
    ax.set_title("Pipeline fps vs faces per frame")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "fps_vs_faces.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    gen = results["generator"]
    for name, rows in gen.items():
        if name.startswith("ort_"):
            ax.plot([r["batch"] for r in rows], [r["faces_per_s"] for r in rows], "o-", label=name)
    torch_b1 = gen["torch_b1"]
    ax.axhline(
        torch_b1["faces_per_s"], ls="--", c="grey", label=f"torch eager b1 ({torch_b1['device']})"
    )
    ax.set(xlabel="batch size", ylabel="faces/s", xscale="log", yscale="log")
    ax.set_title(f"Generator ({results['generator_model']['name']}) faces/s vs batch")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "faces_per_s_vs_batch.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
