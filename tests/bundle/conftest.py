"""The demo's deployment (EfficientNet-Lite0 from its real weights, the demo's spec) packed once with real photos."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from omdeploy.demo import demo_spec

PHOTOS = ["coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg"]


@pytest.fixture(autouse=True)
def bundle_cache(tmp_path_factory, monkeypatch):
    """Unpacked bundles go to a cache of this test session, not ~/.cache; downloaded wheels stay cached."""
    from omdeploy.bundle.cache import cache_root

    monkeypatch.setenv("OMDEPLOY_WHEEL_CACHE", os.environ.get("OMDEPLOY_WHEEL_CACHE") or str(cache_root() / "wheels"))
    monkeypatch.setenv("OMDEPLOY_CACHE", str(tmp_path_factory.getbasetemp() / "omdeploy-cache"))


@pytest.fixture(scope="session")
def demo_deploy(efficientnet_onnx, assets, tmp_path_factory) -> Path:
    """deploy.yaml of the demo (Ascend310P3, CANN 8.0, force_fp16, classify) beside its ONNX, and a photo folder."""
    folder = tmp_path_factory.mktemp("demo")
    model = folder / efficientnet_onnx.name
    shutil.copy(str(efficientnet_onnx), str(model))
    path = demo_spec(model, assets("imagenet_classes.txt")).save(folder / "deploy.yaml")
    photos = folder / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(str(assets.image(name)), str(photos / name))
    return path


@pytest.fixture(scope="session")
def demo_bundle(demo_deploy, tmp_path_factory) -> Path:
    from omdeploy.bundle.pack import pack

    out = tmp_path_factory.mktemp("bundle") / "lite0.tar"
    pack(demo_deploy, out, images=[demo_deploy.parent / "photos"])
    return out
