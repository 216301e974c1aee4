"""/metrics carries npu-smi's memory and AI-core use per chip when npu-smi is on PATH (here a script printing a
real 4-chip Atlas 300I output), and nothing NPU-related without it."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from .conftest import Server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "logs" / "npu-smi"


def npu_samples(server: Server) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, s.labels["npu"], s.labels["chip"]): s.value
            for f in text_string_to_metric_families(httpx.get(server.url + "/metrics").text)
            if f.name.startswith("omdeploy_npu_") for s in f.samples}


def test_npu_smi_gauges_per_chip(assets, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "npu-smi"
    fake.write_text("#!/bin/sh\n[ \"$1\" = info ] && cat '{}'\n".format(FIXTURES / "310_four_chips.txt"))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    server = Server("m=" + str(assets.model("light_squeezenet.onnx")),
                    env={"PATH": "{}{}{}".format(bin_dir, os.pathsep, os.environ.get("PATH", ""))})
    try:
        got = npu_samples(server)
    finally:
        assert server.stop() in (0, -15)
    # the fixture's rows "| 0  0 | NA | 0  5324 / 8192 |", "| 1  1 | NA | 3  2703 / 8192 |", ... (NPU 0, chips 0-3)
    used = {k[2]: v for k, v in got.items() if k[0] == "omdeploy_npu_memory_used_mb"}
    assert used == {"0": 5324, "1": 2703, "2": 2703, "3": 2703}
    assert {k[2]: v for k, v in got.items() if k[0] == "omdeploy_npu_memory_total_mb"} == dict.fromkeys("0123", 8192)
    assert {k[2]: v for k, v in got.items() if k[0] == "omdeploy_npu_aicore_percent"} == {
        "0": 0, "1": 3, "2": 0, "3": 0}


def test_no_npu_smi_no_npu_samples(assets, tmp_path):
    server = Server("m=" + str(assets.model("light_squeezenet.onnx")),
                    env={"PATH": os.path.dirname(os.sys.executable) + os.pathsep + "/usr/bin:/bin"})
    try:
        assert npu_samples(server) == {}
    finally:
        assert server.stop() in (0, -15)
