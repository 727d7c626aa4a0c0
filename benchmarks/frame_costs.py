"""Per-frame costs outside the models: frame conversions and one face paste.

    python -m benchmarks.frame_costs CLIP [CLIP ...]

Per clip (its first 150 frames, 30 a pass, each frame converted once, as in a pipeline):
decoding to BGR through swscale and through
:func:`streamproc.io.convert.frame_to_bgr`, and BGR back to an encoder's yuv420p both ways,
in ms per frame with how far the values differ. Then :meth:`Compositor.paste` (colour
match + feathered blend) of one face of 30, 60 and 120 px, in ms (median call of
:func:`benchmarks.measure.repeat`). Single process, medians of 5 passes; run it with
nothing else on the cores.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from benchmarks import measure
from streamproc.core.config import config_from_dict
from streamproc.core.packet import Face
from streamproc.io.convert import bgr_to_frame, frame_to_bgr
from streamproc.vision.composite import Compositor

FRAMES = 150
PASSES = 5
PASTE_TIMING = measure.Timing(min_s=1.0, min_iters=200)


def ms_per_item(fn: Callable[[object], object], items: list) -> float:
    """Median over PASSES of the ms per item, each pass on its own share of ``items``."""
    fn(items[0])
    share = max(1, len(items) // PASSES)
    runs = []
    for k in range(PASSES):
        chunk = items[k * share : (k + 1) * share] or items[:share]
        start = time.perf_counter()
        for item in chunk:
            fn(item)
        runs.append(1000 * (time.perf_counter() - start) / len(chunk))
    return statistics.median(runs)


def decoded(clip: Path) -> list[av.VideoFrame]:
    """Fresh frames: swscale keeps its context on a frame once it converted it."""
    with av.open(str(clip)) as container:
        return [f for _, f in zip(range(FRAMES), container.decode(video=0), strict=False)]


def conversions(clip: Path) -> None:
    swscale_dec = ms_per_item(lambda f: f.to_ndarray(format="bgr24"), decoded(clip))
    ours_dec = ms_per_item(frame_to_bgr, decoded(clip))
    frames = decoded(clip)
    images = [f.to_ndarray(format="bgr24") for f in frames]
    dec = np.abs(frame_to_bgr(frames[0]).astype(int) - images[0])

    def swscale_enc(image: np.ndarray) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")

    ours_enc = ms_per_item(lambda i: bgr_to_frame(i, "yuv420p"), images)
    theirs_enc = ms_per_item(swscale_enc, images)
    enc = np.abs(
        bgr_to_frame(images[0], "yuv420p").to_ndarray().astype(int)
        - swscale_enc(images[0]).to_ndarray()
    )
    size = f"{images[0].shape[1]}x{images[0].shape[0]}"
    print(
        f"{clip.name} ({size}): decode swscale {swscale_dec:.2f} ms, ours {ours_dec:.2f} ms "
        f"(max diff {dec.max()}, mean {dec.mean():.2f}); encode swscale {theirs_enc:.2f} ms, "
        f"ours {ours_enc:.2f} ms (max diff {enc.max()}, mean {enc.mean():.2f})"
    )


def pastes() -> None:
    compositor = Compositor(config_from_dict({}).composite)
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (432, 768, 3), np.uint8), (5, 5), 0)
    for face_px in (30, 60, 120):
        side = round(face_px * 1.6)
        x1, y1 = 300, 150
        box = np.array([x1 + side * 0.2, y1 + side * 0.19, x1 + side * 0.8, y1 + side * 0.81])
        face = Face(box, 0.9, 1, (x1, y1, x1 + side, y1 + side))
        face.crop = image[y1 : y1 + side, x1 : x1 + side].copy()
        face.enhanced = cv2.GaussianBlur(face.crop, (3, 3), 0)
        times = measure.repeat(lambda f=face: compositor.paste(image, f), PASTE_TIMING)
        ms = 1000 * statistics.median(times)
        print(f"paste of a {face_px} px face ({side} px crop): {ms:.3f} ms")


def main(argv: list[str]) -> None:
    for clip in argv:
        conversions(Path(clip))
    pastes()


if __name__ == "__main__":
    main(sys.argv[1:])
