"""Generic natural-image patches for pre-training the generator before face fine-tuning.

Only ~25 real faces can be had offline, far too few to train a restoration network from
scratch: it memorises them. Denoising, deblurring and upscaling are largely local,
content-generic operations, so the generator is first trained on thousands of patches from
real photos and real surveillance video (degraded on the fly exactly like faces), then
fine-tuned on the faces with its outer U-Net levels frozen (``freeze_levels``).

    python -m train.patches --out data/patches --per-source 300 --licence "..." SRC...

Sources: images or videos. Patches are square, ``size_px`` wide, cut at random positions
and scales; flat patches (little texture, so nothing to learn) are skipped. Deterministic
for a given seed and source list. ``provenance.json`` lists every patch's source (with
sha256), frame, position and the licence string given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from streamproc.audit.hashing import sha256_file
from streamproc.core.errors import InputError, StreamprocError
from train.harvest import IMAGE_EXTS, VIDEO_EXTS

MIN_TEXTURE_STD = 12.0  # grey-level std below which a patch is too flat to teach anything


def _frames(path: Path, wanted: int, rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """BGR frames: the image itself, or ``wanted`` frames spread over a video."""
    if path.suffix.lower() in IMAGE_EXTS:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"cannot read image {path}")
        return [(0, image)]
    if path.suffix.lower() not in VIDEO_EXTS:
        raise InputError(f"not an image or video: {path}")
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    if not frames:
        raise InputError(f"no frames in {path}")
    picks = np.sort(rng.choice(len(frames), size=min(wanted, len(frames)), replace=False))
    return [(int(i), frames[i]) for i in picks]


def harvest_patches(
    sources: list[Path],
    out_dir: Path,
    per_source: int,
    licence: str,
    size_px: int = 128,
    seed: int = 0,
    jpeg_quality: int = 0,
) -> int:
    """Write patches (PNG, or JPEG at ``jpeg_quality`` > 0 to keep big sets small)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    prov_path = out_dir / "provenance.json"
    prov = (
        json.loads(prov_path.read_text()) if prov_path.is_file() else {"patches": [], "sources": []}
    )
    written = 0
    for n_source, source in enumerate(sources):
        if not source.is_file():
            raise InputError(f"patch source not found: {source}")
        rng = np.random.default_rng([seed, n_source])
        digest = sha256_file(source)
        prov["sources"].append({"path": str(source), "sha256": digest, "licence": licence})
        frames = _frames(source, per_source, rng)
        count, attempts = 0, 0
        while count < per_source and attempts < per_source * 20:
            attempts += 1
            index, frame = frames[int(rng.integers(len(frames)))]
            height, width = frame.shape[:2]
            side = int(min(height, width, size_px * rng.uniform(0.6, 2.0)))
            if side < size_px // 2:
                side = min(height, width)
            y, x = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
            patch = frame[y : y + side, x : x + side]
            if cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY).std() < MIN_TEXTURE_STD:
                continue
            interp = cv2.INTER_AREA if side > size_px else cv2.INTER_CUBIC
            patch = cv2.resize(patch, (size_px, size_px), interpolation=interp)
            ext = "jpg" if jpeg_quality else "png"
            name = f"{source.stem}_{digest[:8]}_{count:05d}.{ext}"
            params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if jpeg_quality else []
            cv2.imwrite(str(out_dir / name), patch, params)
            prov["patches"].append(
                {"file": name, "source": str(source), "frame": index, "xy_side": [x, y, side]}
            )
            count += 1
        written += count
    prov_path.write_text(json.dumps(prov, indent=1))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m train.patches", description=__doc__.split("\n")[0]
    )
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--licence", required=True)
    parser.add_argument("--per-source", type=int, default=200)
    parser.add_argument("--size-px", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jpeg-quality", type=int, default=0, help="0 = PNG")
    args = parser.parse_args(argv)
    try:
        n = harvest_patches(
            args.sources,
            args.out,
            args.per_source,
            args.licence,
            args.size_px,
            args.seed,
            args.jpeg_quality,
        )
    except StreamprocError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print(f"{n} patches written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
