"""Multi-frame fusion: each tracked face is merged with its own last crops before enhancing.

A CCTV face is seen in many frames, each with its own sensor noise, codec error and
sub-pixel shift. Averaging the registered crops of one track recovers real signal (noise
falls by about the square root of the frames merged) where a single-frame enhancer can
only guess. The stage is causal: it keeps, per track, the crops of the last
``fuse.frames - 1`` frames and merges them into the current one, so no frame waits for a
later one and live latency does not grow.

Per past crop: resample it into the current crop's geometry (box-relative: the tracker
already follows the face), measure the residual shift at sub-pixel precision (phase
correlation; see ``fuse.registration`` and docs/eval/fusion.md for why), reject it if the
shift is a jump or the aligned crop does not look like the current one (another person,
an occlusion, a turned head), and merge the rest with per-pixel robust weights, so a
moving mouth or blinking eye falls back to the current frame instead of ghosting.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from streamproc.core.config import EnhanceConfig, FuseConfig
from streamproc.core.packet import Face, FramePacket
from streamproc.vision.enhance.classical import estimate_noise_sigma
from streamproc.vision.enhance.crops import (
    CropBox,
    ellipse_radius,
    extract,
    face_box_in_crop,
    square_box,
)

# Past crops are stored with this much extra context per side (fraction of the crop side),
# so that a face the box lagged behind is still covered once it is shifted into place.
STORE_PAD = 0.25
# MAD -> standard deviation for Gaussian noise.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class StoredCrop:
    """A past crop of one track: the padded region around its crop box (float32 BGR).

    ``unshifted_lp``: per current crop side, the low-passed luma of this crop resampled to
    it unshifted (what registration starts from): a stored crop meets up to ``fuse.frames
    - 1`` later crops, mostly of the same side, and each would compute it again."""

    image: np.ndarray
    side_px: int
    pad_px: int
    unshifted_lp: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def unshifted_lowpass(self, side_px: int) -> np.ndarray:
        cached = self.unshifted_lp.get(side_px)
        if cached is None:
            cached = lowpass(luma(resample(self, side_px, (0.0, 0.0))), side_px)
            self.unshifted_lp[side_px] = cached
        return cached


@dataclass(frozen=True)
class Verdict:
    """What happened to one past crop: merged or why not (for tests and the evaluation)."""

    used: bool
    shift_px: tuple[float, float]
    correlation: float
    reason: str = ""


class TrackBuffer:
    """The last ``capacity`` crops of one track (a ring: memory is bounded by design)."""

    def __init__(self, capacity: int) -> None:
        self.entries: deque[StoredCrop] = deque(maxlen=max(0, capacity))
        self.last_index = -1  # the source frame index the track was last seen in

    def push(self, image: np.ndarray, box: CropBox) -> None:
        if self.entries.maxlen == 0:
            return
        side = box[2] - box[0]
        pad = max(2, round(STORE_PAD * side))
        padded = (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)
        self.entries.append(StoredCrop(extract(image, padded).astype(np.float32), side, pad))

    def __len__(self) -> int:
        return len(self.entries)


def luma(img: np.ndarray) -> np.ndarray:
    b, g, r = img[:, :, 0], img[:, :, 1], img[:, :, 2]
    return (0.114 * b + 0.587 * g + 0.299 * r).astype(np.float32)


def lowpass(img: np.ndarray, side_px: int) -> np.ndarray:
    """Blur on the scale where a small noisy face still has signal (~1 px at 50 px crops)."""
    return cv2.GaussianBlur(img, (0, 0), max(0.8, side_px / 48))


def resample(stored: StoredCrop, side_px: int, shift_px: tuple[float, float]) -> np.ndarray:
    """``stored`` in the geometry of a ``side_px`` crop, moved by ``shift_px`` (current px).

    ``shift_px`` is where the past face lies relative to the current one: output pixel u
    samples the past crop at u + shift (scaled into the past crop's pixels).
    """
    scale = stored.side_px / side_px
    dx, dy = shift_px
    tx = stored.pad_px + 0.5 * scale - 0.5 + scale * dx
    ty = stored.pad_px + 0.5 * scale - 0.5 + scale * dy
    matrix = np.float32([[scale, 0, tx], [0, scale, ty]])
    return cv2.warpAffine(
        stored.image,
        matrix,
        (side_px, side_px),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,  # linear blurs: measured worse
        borderMode=cv2.BORDER_REPLICATE,
    )


def register(
    current: np.ndarray, prior: np.ndarray, method: str, weights: np.ndarray
) -> tuple[float, float] | None:
    """Sub-pixel shift (dx, dy) of ``prior``'s content relative to ``current`` (low-passed
    luma, same size), or None where the method fails to converge. ``weights``: the face
    region, so the static background around a moving face does not pin the shift at 0."""
    if method == "none":
        return 0.0, 0.0
    shift: tuple[float, float] = (0.0, 0.0)
    if method in ("phase", "phase+ecc"):
        # Zero-mean inside the window first: else the window's own shape, identical in
        # both, makes a peak at no shift.
        window = weights.astype(np.float32)
        total = float(window.sum()) or 1.0
        a = (current - float((current * window).sum()) / total) * window
        b = (prior - float((prior * window).sum()) / total) * window
        (dx, dy), _ = cv2.phaseCorrelate(a, b)
        shift = (float(dx), float(dy))
        if method == "phase":
            return shift
    warp = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    # Phase correlation starts ECC close: 10 steps reach the 50-step accuracy (0.15 px rms).
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 1e-3)
    mask = (weights > 0.5).astype(np.uint8)
    try:
        _, warp = cv2.findTransformECC(
            current, prior, warp, cv2.MOTION_TRANSLATION, criteria, mask, 1
        )
    except cv2.error:  # ECC did not converge (flat or too different crops)
        return None
    return float(warp[0, 2]), float(warp[1, 2])


def correlation(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """Normalised cross-correlation of two low-passed lumas over the face region."""
    x, y = a[region], b[region]
    x, y = x - x.mean(), y - y.mean()
    denom = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denom) if denom > 1e-6 else 0.0


def expected_correlation(current_lp: np.ndarray, noise_sigma: float, side_px: int, region) -> float:
    """The correlation two crops of the *same* face reach through this much noise: S / (S + N)
    for signal variance S and the low-passed noise's variance N. A fixed threshold would
    refuse every frame of a dark, noisy face (the case fusion is for) or accept strangers
    on clean ones; the threshold is this times ``fuse.min_correlation``."""
    blur_px = max(0.8, side_px / 48)
    noise_var = (noise_sigma / (2 * np.sqrt(np.pi) * blur_px)) ** 2  # white noise, low-passed
    signal_var = max(0.0, float(current_lp[region].var()) - noise_var)
    return signal_var / (signal_var + noise_var) if signal_var > 0 else 0.0


def face_window(side_px: int, margin: float) -> np.ndarray:
    """(S, S) weights: 1 in the face ellipse, a smooth fall-off to 0 at 1.5x its radius."""
    radius = ellipse_radius(side_px, side_px, face_box_in_crop(side_px, side_px, margin))
    return np.clip(3.0 - 2.0 * radius, 0.0, 1.0)


def fuse_crop(
    crop: np.ndarray, history: list[StoredCrop], config: FuseConfig, margin: float
) -> tuple[np.ndarray, list[Verdict]]:
    """The current crop (uint8 BGR) merged with the past ones that align; its verdicts.

    Weights: 1 for the current crop; per pixel of a past crop, a Gaussian of its low-passed
    difference to the current one in units of that difference's own robust spread, so what
    moved between the frames (a mouth, an occluder) keeps the current frame's pixels.
    """
    side = crop.shape[0]
    current = crop.astype(np.float32)
    current_lp = lowpass(luma(current), side)
    window = face_window(side, margin)
    region = window >= 1.0
    expected = expected_correlation(current_lp, estimate_noise_sigma(crop), side, region)
    threshold = config.min_correlation * expected
    total = current.copy()
    weight_sum = np.ones((side, side), np.float32)
    verdicts = []
    max_shift = config.max_shift * side
    for stored in reversed(history):  # newest first
        prior_lp = stored.unshifted_lowpass(side)
        shift = register(current_lp, prior_lp, config.registration, window)
        if shift is None:
            verdicts.append(Verdict(False, (0.0, 0.0), 0.0, "registration failed"))
            continue
        if np.hypot(*shift) > max_shift:
            verdicts.append(Verdict(False, shift, 0.0, "jump"))
            continue
        aligned = resample(stored, side, shift)
        aligned_lp = lowpass(luma(aligned), side)
        corr = correlation(current_lp, aligned_lp, region)
        if corr < threshold:
            verdicts.append(Verdict(False, shift, corr, "does not match"))
            continue
        diff = aligned_lp - current_lp
        spread = MAD_TO_SIGMA * float(np.median(np.abs(diff[region]))) + 0.5
        pixel_w = np.exp(-0.5 * (diff / (config.robust_sigmas * spread)) ** 2)
        total += aligned * pixel_w[:, :, None]
        weight_sum += pixel_w
        verdicts.append(Verdict(True, shift, corr))
    fused = total / weight_sum[:, :, None]
    return np.clip(fused + 0.5, 0, 255).astype(np.uint8), verdicts


class FaceFusion:
    """The fuse stage, between track and enhance: sets each tracked face's ``crop`` (and
    ``crop_box``) to its fused crop and ``fused_frames`` to the frames merged into it.

    Buffers are per (camera, track). A track missing from a frame keeps its buffer for
    ``fuse.frames`` frames (the detector misses a small dark face now and then, and
    ByteTrack gives it back its id); after that it is dropped, so memory is bounded by the
    faces in view. Faces the enhancer leaves alone (taller than ``enhance.max_face_px``)
    and faces larger than ``fuse.max_face_px`` are not fused; nor are crops less noisy than
    ``fuse.min_noise_sigma`` (they are still stored: the light may fall): on clean faces
    fusion measured no gain, only cost and a risk of smearing real motion.
    """

    name = "fuse"

    def __init__(self, config: FuseConfig, enhance: EnhanceConfig) -> None:
        self.config = config
        self.margin = enhance.crop_margin
        self.enhance_max_px = enhance.max_face_px
        # With enhance.mode off nothing is pasted: a fused crop would be work for nothing.
        self.active = config.enabled and enhance.mode != "off"
        self._tracks: dict[tuple[str, int], TrackBuffer] = {}

    def process(self, packets: list[FramePacket]) -> list[FramePacket]:
        if not self.active:
            return packets
        for packet in packets:
            for face in packet.faces:
                # Larger faces are neither fused nor stored (a 400 px face would cost ~10 MB
                # a stored crop); the enhancer cuts their crops as it does without fusion.
                too_big = face.height_px > min(self.config.max_face_px, self.enhance_max_px)
                if face.track_id < 0 or too_big:
                    continue
                key = (packet.source_id, face.track_id)
                self._fuse(packet.image, face, key)
                self._tracks[key].last_index = packet.index
            oldest = packet.index - self.config.frames
            for key, buffer in list(self._tracks.items()):
                if key[0] == packet.source_id and buffer.last_index < oldest:
                    del self._tracks[key]
        return packets

    def _fuse(self, image: np.ndarray, face: Face, key: tuple[str, int]) -> None:
        buffer = self._tracks.get(key)
        if buffer is None:
            buffer = self._tracks[key] = TrackBuffer(self.config.frames - 1)
        box = square_box(face.box_xyxy, self.margin)
        crop = extract(image, box)
        noisy = estimate_noise_sigma(crop) >= self.config.min_noise_sigma
        if noisy and len(buffer):
            fused, verdicts = fuse_crop(crop, list(buffer.entries), self.config, self.margin)
            face.fused_frames = 1 + sum(v.used for v in verdicts)
        else:
            fused = crop
            face.fused_frames = 1
        face.crop_box, face.crop = box, fused
        buffer.push(image, box)

    @property
    def tracks(self) -> int:
        return len(self._tracks)

    def buffered(self, source_id: str, track_id: int) -> int:
        buffer = self._tracks.get((source_id, track_id))
        return 0 if buffer is None else len(buffer)

    def close(self) -> None:
        self._tracks.clear()
