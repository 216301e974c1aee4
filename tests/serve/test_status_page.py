"""The status page in headless Chromium (Debian's package): its JS fills in the model list."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .conftest import Server


def test_status_page_lists_models_in_headless_chromium(assets, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: scripts/setup.sh installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    server = Server("squeeze=" + str(assets.model("light_squeezenet.onnx")))
    try:
        dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                              "--no-first-run", "--disable-background-networking", "--disable-component-update",
                              "--disable-sync", "--user-data-dir={}".format(tmp_path), "--virtual-time-budget=5000",
                              "--dump-dom", server.url + "/"], capture_output=True, text=True, timeout=90).stdout
    finally:
        server.stop()
    assert 'class="model" data-name="squeeze"' in dom, dom[:2000]
    assert "data_0 FP32 [1, 3, 224, 224]" in dom
