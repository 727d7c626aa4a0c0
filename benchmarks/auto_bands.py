"""Which enhancer ``enhance.mode: auto`` gives a face of each size, measured on validation.

    python -m benchmarks.auto_bands --generator streamproc/models/face_lite.onnx \
        --faces data/faceset/val --out docs/eval

For every face height in ``--sizes`` and the noise/blur/codec of each severity preset,
the validation identities' clean crops are degraded with the face at exactly that height
and restored by the classical filters and the generator; each is scored by PSNR and by
SFace similarity to the clean face. A method is picked for a size only where it keeps
identity better than leaving the face as it is, averaged over the presets, by at least
``--margin``; otherwise the face is left alone. The picks become the contiguous bands of
``enhance.auto_min_face_px`` / ``enhance.generator_max_face_px``.

Model selection uses the *validation* people and SFace only: dlib, the independent judge
of identity, is kept for the final test-set report (``streamproc-eval``) and never used
to choose anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.eval_methods import Restorers, degrade_with_capture, nearest_upscale
from benchmarks.evaluate import SFaceScorer, nchw, select_faces
from streamproc.core.config import EnhanceConfig
from streamproc.core.errors import StreamprocError
from train.data import load_rgb
from train.degrade import SEVERITIES, severity_config
from train.metrics import psnr

SIZES = (8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64)
CHOICES = ("off", "classical", "generator")


def measure(
    faces: list[tuple[int, np.ndarray]], restorers: Restorers, sface: SFaceScorer, size: int,
    severity: str, seed: int,
) -> dict[str, dict[str, float]]:  # fmt: skip
    cfg = dataclasses.replace(severity_config(severity), face_px=(float(size), float(size)))
    px = faces[0][1].shape[0]
    lows, ups = [], []
    for index, clean in faces:
        rng = np.random.default_rng([seed, size, SEVERITIES.index(severity), index])
        low, up, _ = degrade_with_capture(clean, rng, cfg)
        lows.append(nearest_upscale(low, px))
        ups.append(up)
    outputs = {"off": lows, "classical": restorers.classical(ups)}
    if restorers.runner is not None:
        outputs["generator"] = restorers.generator(ups)
    clean = [img for _, img in faces]
    return {
        m: {
            "psnr": float(
                np.mean([float(psnr(nchw(o), nchw(c))) for o, c in zip(imgs, clean, strict=True)])
            ),
            "sface": float(np.mean(sface(imgs, clean))),
        }
        for m, imgs in outputs.items()
    }


def pick(rows: dict[str, dict[str, dict[str, float]]], margin: float) -> str:
    """The method whose SFace gain over 'off', averaged over presets, is largest and >= margin."""
    gains = {}
    for method in CHOICES[1:]:
        if all(method in r for r in rows.values()):
            gains[method] = float(np.mean([r[method]["sface"] - r["off"]["sface"]
                                           for r in rows.values()]))  # fmt: skip
    best = max(gains, key=gains.get, default=None)
    return best if best is not None and gains[best] >= margin else "off"


def bands(picks: dict[int, str]) -> dict[str, int]:
    """Contiguous bands off < generator <= classical, conservatively: a size is only
    enhanced where it and every larger size were measured to gain."""
    sizes = sorted(picks)
    min_px = next((s for s in sizes if all(picks[t] != "off" for t in sizes if t >= s)), None)
    if min_px is None:
        return {"auto_min_face_px": 10_000, "generator_max_face_px": 0}
    gen = [s for s in sizes if s >= min_px and picks[s] == "generator"]
    gen_max = max(gen) if gen else min_px - 1
    return {"auto_min_face_px": int(min_px), "generator_max_face_px": int(gen_max)}


def markdown(result: dict[str, Any]) -> str:
    lines = ["# enhance.mode auto: bands measured on validation identities", "", "```",
             result["command"], "```", "",
             f"{result['n_faces']} validation faces; SFace similarity to the clean face "
             "(PSNR dB in brackets), mean over the presets "
             f"{', '.join(result['severities'])}; pick = largest SFace gain over leaving the "
             f"face alone, if >= {result['margin']}.", "",
             "| face px | off | classical | generator | pick |",
             "|---|---|---|---|---|"]  # fmt: skip
    for size, row in result["sizes"].items():
        cells = []
        for m in CHOICES:
            vals = [r[m] for r in row["per_severity"].values() if m in r]
            if not vals:
                cells.append("—")
                continue
            cells.append(f"{np.mean([v['sface'] for v in vals]):.3f} "
                         f"({np.mean([v['psnr'] for v in vals]):.1f})")  # fmt: skip
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {row['pick']} |")
    b = result["bands"]
    lines += ["", f"Bands: faces < {b['auto_min_face_px']} px left as they are; "
              f"{b['auto_min_face_px']}–{b['generator_max_face_px']} px generator; larger "
              "classical.", ""]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.auto_bands",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--generator", type=Path)
    parser.add_argument("--faces", type=Path, required=True, help="validation face crops")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--severities", default=",".join(SEVERITIES))
    parser.add_argument("--margin", type=float, default=0.01)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/auto_bands"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    try:
        faces = [(i, load_rgb(p, 128)) for i, p in select_faces(args.faces, args.limit)]
        restorers = Restorers(args.generator, EnhanceConfig())
        sface = SFaceScorer()
    except StreamprocError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    severities = [s.strip() for s in args.severities.split(",") if s.strip()]
    result: dict[str, Any] = {"command": shlex.join(["python -m benchmarks.auto_bands", *argv]),
                              "n_faces": len(faces), "severities": severities,
                              "margin": args.margin, "sizes": {}}  # fmt: skip
    picks = {}
    for size in (int(s) for s in args.sizes.split(",")):
        rows = {s: measure(faces, restorers, sface, size, s, args.seed) for s in severities}
        picks[size] = pick(rows, args.margin)
        result["sizes"][size] = {"per_severity": rows, "pick": picks[size]}
        print(f"  {size} px: {picks[size]}", file=sys.stderr, flush=True)
    result["bands"] = bands(picks)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "auto_bands.json").write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(result)
    (args.out / "auto_bands.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
