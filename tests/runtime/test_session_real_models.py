"""Session on EfficientNet-Lite0 exported from the real PyTorch weights, on two runtimes."""
from __future__ import annotations

import numpy as np
import pytest

from omdeploy.demo import classify_images, demo_spec
from omdeploy.runtime import Session

pytestmark = [pytest.mark.needs_torch, pytest.mark.needs_openvino, pytest.mark.needs_assets]


def test_coffee_is_espresso_on_onnxruntime_and_openvino(efficientnet_onnx, assets):
    spec = demo_spec(efficientnet_onnx, assets("imagenet_classes.txt"))
    images = [assets.image("coffee.png"), assets.image("chelsea.png")]
    ort = classify_images(spec, images, "onnxruntime")
    ov = classify_images(spec, images, "openvino")
    assert ort[0]["top5"][0]["label"] == "espresso"
    assert ort[0]["top5"][0]["score"] > 0.9
    assert ov[0]["top5"][0]["label"] == "espresso"
    assert "cat" in ort[1]["top5"][0]["label"]
    for a, b in zip(ort, ov):
        assert np.max(np.abs(a["logits"] - b["logits"])) <= 1e-4


def test_openvino_reports_the_same_metadata(efficientnet_onnx):
    with Session(efficientnet_onnx, backend="onnxruntime") as a, Session(efficientnet_onnx, backend="openvino") as b:
        assert [(i.name, i.shape, i.dtype) for i in a.inputs] == [(i.name, i.shape, i.dtype) for i in b.inputs]
        x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
        np.testing.assert_allclose(a.run([x])["logits"], b.run([x])["logits"], atol=1e-4)
