"""End to end on the lent GPU machine: the pipeline with its generator on torch CUDA.

That machine has torch + CUDA, OpenCV, onnx and ONNX Runtime (CPU) but neither PyAV, lap
nor the faceghost detector, and no onnxruntime-gpu; `benchmarks/gpu_e2e.sh` unpacks what
`scripts/gpu_carry.sh` packed here (under 64 MiB with the repository) and runs this:

    python -m benchmarks.gpu_e2e --detector DET.onnx --detector-sha256 HEX --out DIR

Per size (default 1080p and 720p; the shipped sample clip scaled, looped forward and back,
30 fps): the decode + encode ceiling, then the default pipeline with the generator on
``enhance.runtime=torch`` on ``--providers`` (cuda), and with the generator on ONNX Runtime
on the CPU, interleaved by round. The detector runs on ONNX Runtime on the CPU
(``detect.backend=ort``, ``--detector-threads``): ultralytics and OpenVINO are not there.
Prints and writes (``DIR/gpu_e2e.json``) e2e fps, its ratio to the ceiling, faces enhanced
per second and the stages' ms a frame. On a CPU machine ``--providers cpu`` runs the same
(how it is tested).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import measure, realtime
from benchmarks.realtime import cctv_clip
from streamproc.core.config import apply_overrides, config_from_dict
from streamproc.core.cpus import usable_cpus
from streamproc.run.job import SAMPLE_CLIP, Job

SIZES = {"1080p": (1920, 1080), **realtime.SIZES}  # the bench's 720p and 432p, and 1080p
FPS = 30


def variants(args: argparse.Namespace) -> dict[str, list[str]]:
    """The configs compared: the generator on torch (the GPU) and on ONNX Runtime (CPU)."""
    detector = [
        "detect.backend=ort",
        f"detect.threads={args.detector_threads}",
        "detect.device=cpu",
    ]
    if args.detector:
        detector += [f"detect.model={args.detector}", f"detect.model_sha256={args.detector_sha256}"]
    return {
        f"generator torch {args.providers}": [
            *detector,
            "enhance.runtime=torch",
            f"enhance.providers=[{args.providers}]",
        ],
        "generator onnxruntime cpu": [*detector, "enhance.runtime=onnxruntime"],
    }


def run_variant(clip: Path, overrides: list[str]) -> dict:
    config = config_from_dict(apply_overrides({}, overrides))
    with tempfile.TemporaryDirectory() as tmp:
        run = measure.run_job(Job([str(clip)], config, Path(tmp) / "out.mp4"))
    run["faces_enhanced_per_s"] = run["faces_enhanced"] / run["s"]
    return run


def gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", default="1080p,720p", help=f"of {', '.join(SIZES)}")
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--providers", default="cuda", help="the torch generator's: cuda | cpu")
    parser.add_argument("--detector", default="", help="YOLOv8 face ONNX ('' = faceghost's)")
    parser.add_argument("--detector-sha256", default="")
    parser.add_argument("--detector-threads", type=int, default=max(1, usable_cpus() // 2))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    doc: dict = {
        "machine": platform.node(),
        "cpus": usable_cpus(),
        "gpu": gpu_name(),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "args": sys.argv[1:] if argv is None else argv,
        "clips": {},
    }
    with tempfile.TemporaryDirectory() as work:
        for size in args.sizes.split(","):
            clip = cctv_clip(
                SAMPLE_CLIP, Path(work) / f"sample-{size}.mp4", SIZES[size], FPS,
                max(2, round(args.seconds * FPS)),
            )  # fmt: skip
            rows: dict[str, list] = {"ceiling": []}
            for round_no in range(args.rounds):
                ceiling = measure.decode_encode_fps(clip, config_from_dict({}))
                rows["ceiling"].append(ceiling)
                for label, overrides in variants(args).items():
                    run = run_variant(clip, overrides)
                    run["e2e_over_ceiling"] = run["fps"] / ceiling["fps"]
                    rows.setdefault(label, []).append(run)
                    print(
                        f"{size} round {round_no} {label}: {run['fps']:.1f} fps "
                        f"(ceiling {ceiling['fps']:.1f}, ratio {run['e2e_over_ceiling']:.2f}), "
                        f"{run['faces_enhanced_per_s']:.0f} faces/s, "
                        f"stages {run['stage_ms_per_frame']}",
                        flush=True,
                    )
            doc["clips"][size] = rows
    (args.out / "gpu_e2e.json").write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
