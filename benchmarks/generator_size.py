"""Does the generator need its 128 px input for small faces? (issue 15: per-face cost)

    python -m benchmarks.generator_size --faces data/faceset/test --severity moderate

The pipeline resizes every face crop to the generator's input (128 px) and the output
back to the crop's own size before compositing, so a 24 px face (a 38 px crop) is run at
~11x its pixels. This runs the shipped generator (its ONNX is dynamic in H, W) at other
input sizes on held-out faces degraded to a few face heights (``train.degrade``, one
severity, the face height fixed per row, seeded per face) and scores what the pipeline
would composite: the output at the crop's native size against the clean face at that size
(PSNR), and identity after the same bicubic upscale to 128 px for every method (dlib
distance, lower is better; SFace similarity, higher is better). ``capture`` is the crop as
the camera gave it. Prints one line per face height and the generator's ms per face at each
input size (batch of 3, one thread), and writes every mean to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.eval_methods import degrade_with_capture
from benchmarks.evaluate import SFaceScorer, identity_metric
from streamproc.core.config import EnhanceConfig
from streamproc.core.packages import package_file
from streamproc.vision.enhance.crops import from_model_output, to_model_input
from streamproc.vision.enhance.onnx import GeneratorRunner
from train.data import list_images, load_rgb
from train.degrade import DegradeConfig, severity_config
from train.metrics import psnr

CLEAN_PX = 128  # the harvested crops' side; identity is scored at this size


def ms_per_face(runner: GeneratorRunner, size_px: int, repeats: int = 20) -> float:
    batch = to_model_input([np.zeros((40, 40, 3), np.uint8)] * 3, size_px, runner.input_dtype)
    runner(batch)  # a new shape's first call plans it
    start = time.perf_counter()
    for _ in range(repeats):
        runner(batch)
    return (time.perf_counter() - start) / (3 * repeats) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generator_size")
    parser.add_argument("--faces", type=Path, default=Path("data/faceset/test"))
    parser.add_argument("--generator", type=Path, help="default: the shipped face_lite.onnx")
    parser.add_argument("--severity", default="moderate", help="mild | moderate | severe")
    parser.add_argument("--face-px", type=int, nargs="+", default=[16, 20, 24, 32, 40])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/generator_size.json"))
    args = parser.parse_args(argv)
    generator = args.generator or package_file(
        "streamproc", "models/face_lite.onnx", "pip install -e ."
    )
    runner = GeneratorRunner(generator, EnhanceConfig())
    dlib_distance, sface = identity_metric(), SFaceScorer()
    if dlib_distance is None:
        parser.error("dlib is not installed: pip install -e '.[eval]'")
    paths = list_images(args.faces)
    if not paths:
        parser.error(f"no face images in {args.faces} (bash train/recipes/faces.sh)")
    clean = [load_rgb(p, CLEAN_PX) for p in paths]
    methods = ["capture", *map(str, args.sizes)]
    results: dict[str, object] = {"faces": len(paths), "severity": args.severity, "rows": {}}
    for face_px in args.face_px:
        cfg = dataclasses.replace(
            severity_config(args.severity, DegradeConfig()), face_px=(face_px, face_px)
        )
        psnrs: dict[str, list[float]] = {m: [] for m in methods}
        dists: dict[str, list[float]] = {m: [] for m in methods}
        upscaled: dict[str, list[np.ndarray]] = {m: [] for m in methods}
        for i, face in enumerate(clean):
            low, _, _ = degrade_with_capture(
                face, np.random.default_rng([args.seed, face_px, i]), cfg
            )
            side = low.shape[0]
            ref = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
            outputs = {"capture": low}
            for size in args.sizes:
                batch = to_model_input([low[:, :, ::-1]], size, runner.input_dtype)
                outputs[str(size)] = from_model_output(runner(batch), [side])[0][:, :, ::-1]
            for method, image in outputs.items():
                psnrs[method].append(float(psnr(image, ref, data_range=255.0)))
                big = cv2.resize(image, (CLEAN_PX, CLEAN_PX), interpolation=cv2.INTER_CUBIC)
                dists[method].append(dlib_distance(big, face))
                upscaled[method].append(big)
        row = {
            m: {
                "psnr_db": float(np.mean(psnrs[m])),
                "dlib_distance": float(np.mean(dists[m])),
                "sface_similarity": float(np.mean(sface(upscaled[m], clean))),
            }
            for m in methods
        }
        results["rows"][str(face_px)] = {"crop_px": side, **row}
        cells = "  ".join(
            f"{m}: {r['psnr_db']:.2f} dB, dlib {r['dlib_distance']:.3f}, "
            f"SFace {r['sface_similarity']:.3f}"
            for m, r in row.items()
        )
        print(f"face {face_px} px (crop {side} px)  {cells}", flush=True)
    results["ms_per_face"] = {str(s): ms_per_face(runner, s) for s in args.sizes}
    print("generator ms per face:", {s: round(v, 2) for s, v in results["ms_per_face"].items()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
