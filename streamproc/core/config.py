"""Frozen, typed configuration loaded from YAML, overridable with ``--set key=value``.

Every field has a default, so an empty YAML is a valid config. Unknown keys and values of
the wrong type are rejected with one clear message naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streamproc.core.errors import ConfigError
from streamproc.core.urls import mask_url

ENHANCE_MODES = ("auto", "classical", "generator", "both", "off")
PROVIDERS = ("tensorrt", "cuda", "cpu")
REGISTRATIONS = ("phase", "ecc", "phase+ecc", "none")  # fuse.registration
DETECT_BACKENDS = ("auto", "ort", "openvino", "ultralytics")
DETECT_PRECISIONS = ("auto", "fp32", "int8")
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)


@dataclass(frozen=True)
class SourceConfig:
    """How inputs are opened. Timeouts and reconnect apply to network and device sources."""

    rtsp_transport: str = "tcp"
    open_timeout_s: float = 10.0
    # A live read that returns nothing for this long is a stalled stream (the watchdog).
    watchdog_s: float = 5.0
    reconnect: bool = True
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 10.0
    # Give up after this many failed reconnects in a row (0 = keep trying forever).
    reconnect_max_attempts: int = 0
    image_fps: float = 1.0

    def __post_init__(self) -> None:
        if self.rtsp_transport not in ("tcp", "udp"):
            raise ConfigError("source.rtsp_transport must be 'tcp' or 'udp'")
        _positive(self, "open_timeout_s", "watchdog_s", "reconnect_initial_s", "image_fps")
        _in_range(self, "reconnect_max_s", self.reconnect_initial_s, None, "[")
        _in_range(self, "reconnect_max_attempts", 0, None, "[")


@dataclass(frozen=True)
class DetectConfig:
    """YOLOv8n-face. An empty ``model`` means the detector shipped in the faceghost wheel."""

    model: str = ""
    model_sha256: str = ""
    # Long side of the full-frame pass (px); the short side follows the frame's aspect,
    # padded to a multiple of 32 (768x432 -> 640x384, not a 640x640 square).
    imgsz: int = 640
    conf: float = 0.35
    iou: float = 0.5
    min_face_px: int = 10
    # Detect every this many frames of a camera (the tracker carries faces in between),
    # but every small_face_every_n for 30 frames after a detection found a face smaller
    # than small_face_px in the detector's input (tiny faces need more detections; the
    # tracker predicts by the frames between detections): RESULTS.md, "Detection cadence".
    every_n_frames: int = 3
    small_face_every_n: int = 2
    small_face_px: int = 16
    # ... and every small_face_every_n for 30 frames after a face moved this many of its
    # heights a frame between two detections (0 = off): a face crossing its own width
    # between detections is lost by the tracker (RESULTS.md, "Fast faces").
    fast_face_speed: float = 0.2
    max_faces: int = 64
    # cpu | 0 | cuda:0 (ort: the CUDA provider; ultralytics: its device).
    device: str = "cpu"
    # auto: openvino on the CPU when installed (2.2x faster than ORT at 640x384 on 2
    # cores, see RESULTS.md), else ort; ort: ONNX Runtime; openvino: OpenVINO CPU;
    # ultralytics: through ultralytics (imports torch, ~4 s of start-up).
    backend: str = "auto"
    # 0: 1 on a machine of <= 2 CPUs (there a second detector thread only takes the core
    # the other stages need: -8 % CPU a frame with 1, RESULTS.md), else half the CPUs, <= 4.
    threads: int = 0
    # auto: int8 for the shipped detector on OpenVINO when the CPU has no bfloat16 (where
    # it has, OpenVINO runs fp32 in bf16 and int8 was no faster); fp32; int8 (any model).
    # The int8 copy is built once on this machine (streamproc prepare; ~20 s).
    precision: str = "auto"
    # The int8 detector and OpenVINO's compiled models ('' = $XDG_CACHE_HOME/streamproc).
    cache_dir: str = ""
    # Static cameras: between full-frame passes detect only where the picture changed
    # (and around the faces found last time), on native-resolution crops.
    motion_gate: bool = True
    # A full-frame pass every this many detections per camera (finds people standing still).
    # With the gate, it also looks again at native resolution around the last faces that
    # are >= small_face_px tall but under it in its own input, if it missed them.
    full_every_n: int = 8
    motion_width_px: int = 192
    motion_threshold: int = 14
    # Crops costing more than this fraction of a full pass (in detector input pixels, plus
    # a fixed cost per call): the full pass instead.
    motion_max_area: float = 0.8
    # Busy scenes (crops would cost a full pass): every other detection only looks around
    # the faces found last, in 128 px tiles (RESULTS.md, stop 31).
    busy_face_tiles: bool = True
    # ``--faces``: each image is one face crop, enhanced whole (no detection, no tracking).
    whole_image: bool = False

    def __post_init__(self) -> None:
        _positive(self, "imgsz", "every_n_frames", "small_face_every_n", "max_faces")
        _in_range(self, "fast_face_speed", 0.0, None, "[")
        _in_range(self, "threads", 0, None, "[")
        _positive(self, "full_every_n")
        _positive(self, "motion_width_px", "motion_threshold")
        _in_range(self, "conf", 0.0, 1.0, "()")
        _in_range(self, "iou", 0.0, 1.0, "(]")
        _in_range(self, "motion_max_area", 0.0, 1.0, "(]")
        _in_range(self, "min_face_px", 0, None, "[")
        _not_a_folder(self, "model")
        if self.imgsz % 32:
            raise ConfigError("detect.imgsz must be a multiple of 32")
        if self.backend not in DETECT_BACKENDS:
            raise ConfigError(
                f"detect.backend must be one of {DETECT_BACKENDS}, got {self.backend!r}"
            )
        if self.precision not in DETECT_PRECISIONS:
            raise ConfigError(
                f"detect.precision must be one of {DETECT_PRECISIONS}, got {self.precision!r}"
            )


@dataclass(frozen=True)
class TrackConfig:
    """ByteTrack (vision/bytetrack.py) plus an exponential moving average on each track's box."""

    enabled: bool = True
    track_high_thresh: float = 0.35
    track_low_thresh: float = 0.1
    new_track_thresh: float = 0.4
    track_buffer: int = 30
    match_thresh: float = 0.8
    # Weight of the previous smoothed box (0 = no smoothing). Damps jitter of the paste.
    box_smoothing: float = 0.6

    def __post_init__(self) -> None:
        for name in ("track_high_thresh", "track_low_thresh", "new_track_thresh", "match_thresh"):
            _in_range(self, name, 0.0, 1.0, "[]")
        _in_range(self, "box_smoothing", 0.0, 1.0, "[)")
        _positive(self, "track_buffer")


@dataclass(frozen=True)
class EnhanceConfig:
    """Which enhancer runs on the face crops and how crops are batched."""

    mode: str = "auto"
    # mode auto: faces smaller than auto_min_face_px (px tall) are left as they are (no
    # enhancer kept their identity there), faces up to generator_max_face_px go to the
    # generator, larger ones to classical; bands measured in the model card.
    auto_min_face_px: int = 10
    generator_max_face_px: int = 48
    # Generator ONNX; empty means the model shipped in streamproc/models (if any).
    model: str = ""
    model_sha256: str = ""
    # A second generator for the smallest faces, trained at their scale on a smaller input
    # (cheaper a face): generator faces up to small_model_max_face_px tall go to it.
    # "" = streamproc/models/face_small.onnx when shipped and `model` is the shipped one
    # too; "none" = every face on `model`.
    small_model: str = ""
    small_model_sha256: str = ""
    small_model_max_face_px: int = 20
    providers: tuple[str, ...] = ("cpu",)
    # onnxruntime | torch: the same ONNX file run as torch ops (a GPU when the providers
    # name cuda/tensorrt), for machines whose onnxruntime-gpu does not match their CUDA.
    runtime: str = "onnxruntime"
    # "error": asking for an absent provider fails; "warn": warn once and use the rest.
    missing_provider: str = "error"
    intra_op_threads: int = 1
    ort_spin: bool = False
    graph_optimization: str = "all"
    trt_fp16: bool = True
    trt_engine_cache_dir: str = ""
    device_id: int = 0
    max_batch: int = 16
    # How long the enhancer waits for more frames to fill a batch (live sources).
    max_wait_ms: float = 10.0
    # Frames whose faces may share one batch.
    max_batch_frames: int = 4
    crop_margin: float = 0.3
    # Faces taller than this are left alone: they are already recognisable.
    max_face_px: int = 400
    classical_size_px: int = 128
    # bilateral | nlm | off; strength multiplies the noise level measured in each crop.
    denoise: str = "bilateral"
    denoise_strength: float = 1.0
    sharpen_amount: float = 0.3
    sharpen_sigma_px: float = 1.2
    clahe_clip: float = 0.0
    # Mean luma (0-255) below which gamma brightening is applied.
    low_light_luma: float = 90.0

    def __post_init__(self) -> None:
        if self.mode not in ENHANCE_MODES:
            raise ConfigError(f"enhance.mode must be one of {ENHANCE_MODES}, got {self.mode!r}")
        bad = [p for p in self.providers if p not in PROVIDERS]
        if bad or not self.providers:
            raise ConfigError(f"enhance.providers must be a list from {PROVIDERS}, got {bad}")
        if self.missing_provider not in ("error", "warn"):
            raise ConfigError("enhance.missing_provider must be 'error' or 'warn'")
        if self.runtime not in ("onnxruntime", "torch"):
            raise ConfigError(f"enhance.runtime must be onnxruntime or torch, got {self.runtime!r}")
        if self.denoise not in ("bilateral", "nlm", "off"):
            raise ConfigError("enhance.denoise must be bilateral|nlm|off")
        if self.graph_optimization not in ("disable", "basic", "extended", "all"):
            raise ConfigError("enhance.graph_optimization must be disable|basic|extended|all")
        _positive(self, "max_batch", "max_batch_frames", "classical_size_px", "max_face_px")
        _positive(self, "sharpen_sigma_px")
        for name in ("auto_min_face_px", "generator_max_face_px", "small_model_max_face_px"):
            _in_range(self, name, 0, None, "[")
        for name in ("intra_op_threads", "device_id"):
            _in_range(self, name, 0, None, "[")
        for name in ("max_wait_ms", "denoise_strength", "sharpen_amount", "clahe_clip"):
            _in_range(self, name, 0.0, None, "[")
        # The square crop grows by this fraction per side: 2 already makes it 5 faces wide.
        _in_range(self, "crop_margin", 0.0, 2.0, "[]")
        _in_range(self, "low_light_luma", 0.0, 255.0, "[]")
        _not_a_folder(self, "model")
        if self.small_model != "none":
            _not_a_folder(self, "small_model")


@dataclass(frozen=True)
class FuseConfig:
    """Multi-frame fusion of each tracked face (streamproc.vision.fuse), before enhancing."""

    # On by default, gated by noise (min_noise_sigma): docs/eval/fusion.md measured it
    # helping noisy faces and doing nothing for clean ones.
    enabled: bool = True
    # Crops merged per face, the current one included (K); memory is K crops per track.
    frames: int = 8
    # Faces taller than this are neither fused nor stored (px).
    max_face_px: int = 48
    # Crops whose measured noise (grey levels, the estimate the denoiser uses) is below
    # this are left as they are: there fusion measured no gain (0 = fuse every face).
    min_noise_sigma: float = 8.0
    # phase | ecc | phase+ecc | none: how past crops are registered to the current one.
    registration: str = "phase+ecc"
    # A past crop whose residual shift exceeds this fraction of the crop side is a jump.
    max_shift: float = 0.2
    # A past crop whose low-passed face correlates less than this with the current one is
    # another face, an occlusion or a turned head: not merged.
    min_correlation: float = 0.85
    # Per pixel, a past crop's weight halves ~1.2 robust spreads of its difference x this.
    robust_sigmas: float = 1.5

    def __post_init__(self) -> None:
        if self.registration not in REGISTRATIONS:
            raise ConfigError(f"fuse.registration must be one of {REGISTRATIONS}")
        _positive(self, "frames", "max_face_px", "robust_sigmas")
        _in_range(self, "max_shift", 0.0, 1.0, "[]")
        _in_range(self, "min_noise_sigma", 0.0, None, "[")
        _in_range(self, "min_correlation", -1.0, 1.0, "[]")


@dataclass(frozen=True)
class CompositeConfig:
    """How enhanced crops go back into the frame."""

    # Width of the soft edge, as a fraction of the crop side (around the face ellipse: of
    # the face box; the crop's corners always keep the original).
    feather: float = 0.18
    # Match the face's mean chroma and its black point (only if the enhancer lifted it).
    color_match: bool = True
    marker: bool = True
    marker_text: str = "AI-enhanced"
    side_by_side: bool = False
    draw_boxes: bool = False

    def __post_init__(self) -> None:
        # A ramp wider than half the crop would fade the whole paste.
        _in_range(self, "feather", 0.0, 0.5, "[]")


@dataclass(frozen=True)
class OutputConfig:
    """Sinks. The file sink keeps the input's frame timing and copies its audio."""

    codec: str = "libx264"
    crf: int = 20
    preset: str = "veryfast"
    # Live inputs encode with this preset instead (and without lookahead): on 2 cores at
    # 768x432 ultrafast costs ~5 ms a frame less than veryfast, for ~1.5x the bytes, and
    # halved a paced camera's latency p95 (RESULTS.md, stop 26).
    live_preset: str = "ultrafast"
    keyframe_s: float = 2.0
    encoder_threads: int = 0  # 0 = auto: 1 under 0.5 MP on <= 2 CPUs, else the encoder decides
    # Fragmented MP4 stays playable even if the process is killed mid-write.
    fragmented_mp4: bool = True
    copy_audio: bool = True
    manifest: bool = True
    # Live inputs: start a new file (with its own manifest) every rotate_s s; 0 = one file.
    rotate_s: float = 0.0
    # MJPEG over HTTP preview; 0 disables it.
    mjpeg_port: int = 0
    mjpeg_host: str = "127.0.0.1"
    mjpeg_quality: int = 80
    # Push the enhanced stream to an RTSP server (a VMS/NVR) with ANNOUNCE/RECORD; "" = off.
    # Several inputs: "{name}" in the URL is each camera's name, else /NAME is appended.
    rtsp_push: str = ""

    def __post_init__(self) -> None:
        scheme = self.rtsp_push.partition("://")[0].lower()
        if self.rtsp_push and (scheme not in ("rtsp", "rtsps") or "://" not in self.rtsp_push):
            raise ConfigError(
                "output.rtsp_push must be an rtsp:// or rtsps:// URL, "
                f"got {mask_url(self.rtsp_push)!r}"
            )
        _in_range(self, "rotate_s", 0.0, None, "[")
        _positive(self, "keyframe_s")
        _in_range(self, "crf", 0, 51, "[]")  # x264/x265's range
        for key in ("preset", "live_preset"):
            if getattr(self, key) not in X264_PRESETS:
                raise ConfigError(
                    f"output.{key} must be one of {', '.join(X264_PRESETS)}, "
                    f"got {getattr(self, key)!r}"
                )
        _in_range(self, "encoder_threads", 0, None, "[")
        _in_range(self, "mjpeg_port", 0, 65535, "[]")
        _in_range(self, "mjpeg_quality", 1, 100, "[]")


@dataclass(frozen=True)
class PipelineConfig:
    """Queue sizes between the threads (frames)."""

    # Frames waiting between threads; a camera's output queue also has room for the frames
    # in the shared workers (2 x enhance.max_batch_frames), which reserve a slot there.
    queue_frames: int = 8
    # Frames a live source may hold before dropping the oldest. 4: room for the backlog a
    # slow detection call leaves (~100 ms on 2 AVX2 cores), which the engine then detects
    # once and carries (2 dropped 22-25 % of a 30 fps camera there, 4 dropped 0.6-2.2 %).
    live_queue_frames: int = 4

    def __post_init__(self) -> None:
        _positive(self, "queue_frames", "live_queue_frames")


@dataclass(frozen=True)
class ServeConfig:
    """The live monitor web page (``streamproc run ... --serve``)."""

    # Loopback by default: the page shows camera video; expose it deliberately.
    host: str = "127.0.0.1"
    port: int = 8080
    jpeg_quality: int = 80

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"serve.port must be in 0..65535, got {self.port}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"serve.jpeg_quality must be in 1..100, got {self.jpeg_quality}")


@dataclass(frozen=True)
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    enhance: EnhanceConfig = field(default_factory=EnhanceConfig)
    fuse: FuseConfig = field(default_factory=FuseConfig)
    composite: CompositeConfig = field(default_factory=CompositeConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        _in_range(obj, name, 0, None, "(")


def _not_a_folder(obj: Any, name: str) -> None:
    """A model path naming a folder is a mistake to say as such, not "model not found"."""
    value = getattr(obj, name)
    if value and Path(value).is_dir():
        section = type(obj).__name__.removesuffix("Config").lower()
        raise ConfigError(f"{section}.{name} {value} is a folder, not a model file (.onnx)")


def _in_range(
    obj: Any, name: str, low: float | None, high: float | None, bounds: str = "[]"
) -> None:
    """``obj.name`` must be finite and within ``low``..``high`` (None: unbounded);
    ``bounds`` says which ends are open, as an interval is written: "[]", "(]", "(" ...

    Comparisons with NaN are false, so NaN fails every range, as does infinity."""
    value = getattr(obj, name)
    above = low is None or (value > low if bounds[0] == "(" else value >= low)
    below = high is None or (value < high if bounds[-1] == ")" else value <= high)
    if isinstance(value, int | float) and math.isfinite(value) and above and below:
        return
    if high is None:
        wanted = f"{'>' if bounds[0] == '(' else '>='} {low:g}"
    else:
        wanted = f"in {bounds[0]}{low:g}, {high:g}{bounds[-1]}"
    section = type(obj).__name__.removesuffix("Config").lower()
    raise ConfigError(f"{section}.{name} must be {wanted}, got {value!r}")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against a field's type hint, converting where YAML is looser."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {type(value).__name__}")
        return build(hint, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        is_null = value is None or (isinstance(value, str) and value.lower() in ("null", "none"))
        if is_null and len(args) < len(typing.get_args(hint)):
            return None
        return _coerce(value, args[0], key) if len(args) == 1 else value
    if origin is tuple:
        return _coerce_tuple(value, typing.get_args(hint), key)
    if hint is str and isinstance(value, bool):
        # YAML 1.1 reads off/on as booleans; in a text field they mean the words.
        return "on" if value else "off"
    if hint is str and isinstance(value, int | float):
        return str(value)
    if hint in (int, float):
        return _number(value, hint, key)
    if hint in (str, bool) and not isinstance(value, hint):
        raise ConfigError(f"{key} must be {hint.__name__}, got {value!r}")
    return value


def _coerce_tuple(value: Any, args: tuple, key: str) -> tuple:
    """``tuple[T, ...]`` takes one value or a list; ``tuple[A, B]`` exactly that many."""
    if args[-1] is Ellipsis:
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(_coerce(v, args[0], key) for v in items)
    if not isinstance(value, list | tuple) or len(value) != len(args):
        raise ConfigError(f"{key} needs a list of {len(args)} values, got {value!r}")
    return tuple(_coerce(v, t, key) for v, t in zip(value, args, strict=True))


def _number(value: Any, hint: type, key: str) -> int | float:
    """PyYAML reads ``2e-4`` as text; numbers written that way are still numbers."""
    number: int | float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is not None and not math.isfinite(number):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    if number is None or (hint is int and float(number) != int(number)):
        raise ConfigError(f"{key} must be {hint.__name__}, got {value!r}")
    return int(number) if hint is int else float(number)


def build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """A (nested) frozen dataclass from plain data, refusing unknown keys and bad types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]} (known: {sorted(names)})")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"bad config section {prefix.rstrip('.') or 'root'}: {err}") from None


def to_plain(value: Any) -> Any:
    """Dataclasses, tuples and dicts -> dicts and lists (YAML, JSON, weights_only loads)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def config_from_dict(data: dict[str, Any] | None) -> Config:
    return build(Config, data or {})


def config_to_dict(config: Config) -> dict[str, Any]:
    return to_plain(config)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``enhance.mode=generator`` -> (["enhance", "mode"], "generator"); values are YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of ``data`` with each ``key.sub=value`` applied in order."""
    merged = to_plain(data)
    for text in overrides:
        path, value = parse_override(text)
        node = merged
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text}: {part} is a value, not a section")
        node[path[-1]] = value
    return merged


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A config file's top-level mapping (an empty file is an empty mapping)."""
    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return loaded or {}


def load_config(path: Path | None, overrides: list[str] | None = None) -> Config:
    data = read_yaml_mapping(path) if path is not None else {}
    return config_from_dict(apply_overrides(data, overrides or []))


def redact_config(config: Config) -> Config:
    """The config as recorded beside an output (manifest, .config.yaml): URLs masked."""
    output = dataclasses.replace(config.output, rtsp_push=mask_url(config.output.rtsp_push))
    return dataclasses.replace(config, output=output)


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
