"""Summaries, markdown tables, image grids and plots for ``streamproc-eval``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from train.metrics import finite_mean

SAME_PERSON = 0.6  # dlib descriptor distance below which two faces are the same person
SFACE_SAME_PERSON = 0.363  # SFace cosine similarity at or above which: same person
METRICS = ("psnr", "ssim", "identity", "sface")
METRIC_LABELS = {
    "psnr": "PSNR (dB, higher is better)",
    "ssim": "SSIM (higher is better)",
    "identity": "dlib identity distance (lower is better; < 0.6 same person)",
    "sface": "SFace cosine similarity (higher is better; >= 0.363 same person)",
}


def summarise(metric: str, values: list[float | None]) -> dict[str, Any]:
    """Mean over finite values (an identical crop has PSNR inf), std, count."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    out: dict[str, Any] = {
        "mean": finite_mean(finite) if finite else None,
        "std": float(np.std(finite)) if finite else None,
        "n": len(finite),
        "n_infinite": sum(1 for v in values if v is not None and math.isinf(v)),
    }
    if metric == "identity" and finite:
        out["same_person_rate"] = float(np.mean([v < SAME_PERSON for v in finite]))
    if metric == "sface" and finite:
        out["same_person_rate"] = float(np.mean([v >= SFACE_SAME_PERSON for v in finite]))
    return out


def json_safe(values: list[float]) -> list[float | None]:
    """JSON has no inf/nan: write null (the summary counts infinite values separately)."""
    return [round(float(v), 5) if math.isfinite(v) else None for v in values]


# --- markdown -------------------------------------------------------------------------------


def _fmt(stats: dict[str, Any] | None, metric: str) -> str:
    if not stats or stats.get("mean") is None:
        return "—"
    return f"{stats['mean']:.2f}" if metric == "psnr" else f"{stats['mean']:.3f}"


def _cell(per_metric: dict[str, dict[str, Any]] | None, identity: bool) -> str:
    if per_metric is None:
        return "—"
    metrics = [m for m in METRICS if m in per_metric and (identity or m != "identity")]
    return " / ".join(_fmt(per_metric.get(m), m) for m in metrics)


def condition_table(result: dict[str, Any], kind: str) -> list[str]:
    names = [n for n, c in result["synthetic"].items() if c["kind"] == kind]
    identity = result["identity"]["available"]
    sface = result["identity"].get("sface", False)
    fmt = "PSNR / SSIM" + (" / dlib" if identity else "") + (" / SFace" if sface else "")
    lines = [f"| method ({fmt}) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for method in result["methods"]:
        cells = [_cell(result["synthetic"][n]["per_method"].get(method), identity) for n in names]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def _rate(stats: dict[str, Any]) -> str:
    rate = stats.get("same_person_rate")
    return "—" if rate is None else f"{100 * rate:.0f} %"


def pair_table(pair: dict[str, Any], identity: bool) -> list[str]:
    sface = any("sface" in s for s in pair["per_method"].values())
    head = "| method | PSNR (dB) | SSIM |" + (" dlib dist | same person |" if identity else "")
    head += " SFace sim | same person |" if sface else ""
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for method, stats in pair["per_method"].items():
        row = f"| {method} | {_fmt(stats['psnr'], 'psnr')} | {_fmt(stats['ssim'], 'ssim')} |"
        if identity:
            row += f" {_fmt(stats['identity'], 'identity')} | {_rate(stats['identity'])} |"
        if sface:
            row += f" {_fmt(stats['sface'], 'sface')} | {_rate(stats['sface'])} |"
        lines.append(row)
    return lines


def crop_table(crops: dict[str, Any], identity: bool) -> list[str]:
    names = list(crops["conditions"])
    methods = list(next(iter(crops["conditions"].values()))["per_method"])
    lines = ["| --faces (PSNR / SSIM" + (" / dlib" if identity else "") + " / SFace) | "
             + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]  # fmt: skip
    for method in methods:
        cells = [_cell(crops["conditions"][n]["per_method"].get(method), identity) for n in names]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def identity_table(result: dict[str, Any], kind: str = "severity") -> list[str]:
    """Same-person rates per method and condition (dlib < 0.6, SFace >= 0.363)."""
    names = [n for n, c in result["synthetic"].items() if c["kind"] == kind]
    lines = ["| method (same person: dlib / SFace) | " + " | ".join(names) + " |",
             "|---" * (len(names) + 1) + "|"]  # fmt: skip
    for method in result["methods"]:
        cells = []
        for n in names:
            stats = result["synthetic"][n]["per_method"].get(method) or {}
            cells.append(" / ".join(_rate(stats[m]) if m in stats else "—"
                                    for m in ("identity", "sface")))  # fmt: skip
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def temporal_table(pair: dict[str, Any]) -> list[str]:
    lines = ["| crops | frame-to-frame MAD | / clean | temporal error |", "|---|---|---|---|"]
    for name, t in pair["temporal"].items():
        lines.append(f"| {name} | {t['mad']:.2f} | {t['ratio']:.2f} | {t['error']:.2f} |")
    return lines


def _floor(identity: dict[str, Any]) -> str:
    floor = identity.get("blank_floor")
    if not floor or floor.get("mean") is None:
        return ""
    return (
        f"; a uniform grey image (no face) scores {floor['mean']:.3f} against these faces, "
        "so only distances well below that carry identity"
    )


def markdown(result: dict[str, Any]) -> str:
    cfg = result["config"]
    gen = result["generator"]
    lines = ["# streamproc-eval", "", "```", result["command"], "```", ""]
    lines += [
        f"* faces: {result['faces']['n']} from `{result['faces']['dir']}` "
        f"(sha256 of the set {result['faces']['sha256'][:12]}…), seed {cfg['seed']}, "
        f"compared at {cfg['size_px']} px",
        "* generator: "
        + (
            f"`{gen['path']}` (sha256 {gen['sha256'][:12]}…, input {gen['input_size_px']} px)"
            if gen
            else "none given (generator and both columns absent)"
        ),
        f"* identity: {result['identity']['note']}" + _floor(result["identity"]),
        "* degraded = nearest-neighbour upscale of the low-res capture (what a viewer sees); "
        "classical/generator/both work on the bicubic upscale, as the pipeline does on a crop.",
        "",
        "## Synthetic degradations, by severity (`train.degrade` presets)",
        "",
        *condition_table(result, "severity"),
        "",
        "Same-person rate (share of faces a recognizer still matches to the clean face):",
        "",
        *identity_table(result),
        "",
        "## Synthetic degradations, one type at a time",
        "",
        *condition_table(result, "type"),
        "",
    ]
    crops = result.get("crop_mode")
    if crops:
        lines += [
            "## Face-crop mode (`streamproc run DIR --faces`), by severity",
            "",
            "Each low-res capture above written as an image and enhanced whole at its own size "
            "by the real command; input and outputs bicubic-upscaled to the comparison size. "
            "Crop sizes (px): "
            + ", ".join(f"{n} {c['crop_px']}" for n, c in crops["conditions"].items()),
            "",
            *crop_table(crops, result["identity"]["available"]),
            "",
        ]
    pair = result.get("carphone")
    if pair:
        lines += [
            "## Real paired clip: carphone_distorted vs carphone_pristine (face crops)",
            "",
            f"{pair['frames_scored']} frames, crop {pair['crop_px']} px at native resolution "
            "(no upscale: the distorted clip is codec-degraded, not low-res).",
            "",
            *pair_table(pair, result["identity"]["available"]),
            "",
            "## Temporal stability (carphone, consecutive frames)",
            "",
            "MAD = mean abs change between consecutive crops (0–255); / clean = ratio to the "
            "clean crops' own change (1 = no added flicker); temporal error = mean abs "
            "difference between a method's frame-to-frame change and the clean one's.",
            "",
            *temporal_table(pair),
            "",
        ]
    elif result.get("carphone_note"):
        lines += ["## Real paired clip", "", result["carphone_note"], ""]
    lines.append(f"Total {result['elapsed_s']:.0f} s.")
    return "\n".join(lines) + "\n"


# --- images ---------------------------------------------------------------------------------


def _label(text: str, width: int) -> np.ndarray:
    bar = np.full((18, width, 3), 255, np.uint8)
    cv2.putText(bar, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def write_grid(path: Path, columns: dict[str, list[np.ndarray]], tile_px: int = 128) -> None:
    """Rows: faces; columns in the given order; RGB uint8 tiles resized (nearest) to one size."""
    names = list(columns)
    rows = []
    for i in range(len(columns[names[0]])):
        tiles = [
            cv2.resize(columns[n][i], (tile_px, tile_px), interpolation=cv2.INTER_NEAREST)
            for n in names
        ]
        rows.append(np.concatenate(tiles, axis=1))
    header = np.concatenate([_label(n, tile_px) for n in names], axis=1)
    grid = np.concatenate([header, *rows], axis=0)
    cv2.imwrite(str(path), grid[:, :, ::-1])


def write_plots(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """One grouped bar chart per metric: conditions on x, one bar per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {n: c["per_method"] for n, c in result["synthetic"].items()}
    if result.get("carphone"):
        groups["carphone"] = result["carphone"]["per_method"]
    metrics = [
        m
        for m in METRICS
        if (m != "identity" or result["identity"]["available"])
        and (m != "sface" or result["identity"].get("sface"))
    ]
    written = []
    methods = result["methods"]
    width = 0.8 / len(methods)
    x = np.arange(len(groups))
    for metric in metrics:
        fig, ax = plt.subplots(figsize=(10, 4))
        for k, method in enumerate(methods):
            values = [
                (g.get(method, {}).get(metric) or {}).get("mean") or np.nan for g in groups.values()
            ]
            ax.bar(x + (k - (len(methods) - 1) / 2) * width, values, width, label=method)
        if metric == "identity":
            ax.axhline(SAME_PERSON, color="k", lw=0.8, ls="--", label="same-person line")
            floor = (result["identity"].get("blank_floor") or {}).get("mean")
            if floor is not None:
                ax.axhline(floor, color="tab:red", lw=0.8, ls=":", label="grey image (no face)")
        ax.set_xticks(x, list(groups), rotation=20)
        ax.set_ylabel(metric)
        ax.set_title(METRIC_LABELS[metric], fontsize=10, pad=24)
        ax.legend(
            fontsize=8,
            ncol=len(methods) + 1,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            frameon=False,
        )
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"{metric}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if result.get("carphone"):
        temporal = result["carphone"]["temporal"]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(list(temporal), [t["mad"] for t in temporal.values()], color="tab:gray")
        ax.set_ylabel("frame-to-frame mean abs change")
        ax.set_title("carphone: temporal stability (clean = reference)")
        fig.tight_layout()
        path = out_dir / "temporal.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
