"""The demo's deployment (EfficientNet-Lite0 from its real weights, the demo's spec) packed once with real photos."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from omdeploy.demo import demo_spec

TESTS = Path(__file__).resolve().parents[1]
FAKE_ATC = TESTS / "fakes" / "atc" / "atc.py"
NPU_SMI = TESTS / "fixtures" / "logs" / "npu-smi" / "seed_310p3.txt"
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
    from omdeploy.tools.pack import pack

    out = tmp_path_factory.mktemp("bundle") / "lite0.tar"
    pack(demo_deploy, out, images=[demo_deploy.parent / "photos"])
    return out


@pytest.fixture
def fake_cann(tmp_path, monkeypatch):
    """~/Ascend with a toolkit 8.0.0 whose atc is the strict fake, npu-smi showing one Ascend310P3, and python3 on
    PATH this interpreter."""
    from tests.ascend.test_convert import make_toolkit

    home = tmp_path / "home"
    toolkit = make_toolkit(home / "Ascend", version="8.0.0")
    (toolkit / "bin" / "atc").write_text('#!/bin/sh\nexec "{}" "{}" "$@"\n'.format(sys.executable, FAKE_ATC))
    bin_dir = tmp_path / "pybin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text('#!/bin/sh\nexec "{}" "$@"\n'.format(sys.executable))
    (bin_dir / "python3").chmod(0o755)
    (bin_dir / "npu-smi").write_text('#!/bin/sh\ncat "{}"\n'.format(NPU_SMI))  # the field report's 310P3 box
    (bin_dir / "npu-smi").chmod(0o755)
    for name in ("ASCEND_TOOLKIT_HOME", "ASCEND_OPP_PATH", "LD_LIBRARY_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", "{}{}/usr/bin:/bin".format(bin_dir, os.pathsep))
    monkeypatch.setenv("FAKE_ATC_ARGS", str(tmp_path / "atc_args"))
    return toolkit
