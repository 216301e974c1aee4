"""The README's first command: the whole workflow on real assets."""
from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.needs_torch, pytest.mark.needs_openvino, pytest.mark.needs_assets]


def test_demo_runs_the_whole_workflow(cli, tmp_path, assets):
    out = tmp_path / "demo"
    r = cli("demo", "--out", out, "--assets", assets.root, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["export"]["max_abs_error"] < 1e-4
    assert report["check"]["ok"] is True
    assert report["convert"]["status"] == "planned" and report["convert"]["built"] is False
    assert "--input_fp16_nodes=input" in report["convert"]["argv"]
    assert report["compare"]["passed"] is True
    assert report["compare"]["outputs"][0]["metrics"]["cosine"] >= 0.999
    assert report["run"]["failed"] == 0 and report["run"]["top1"]["coffee.png"] == "espresso"
    assert [b["backend"] for b in report["bench"] if b["ok"]] == ["onnxruntime", "openvino", "sim"]
    assert report["ocr"]["lines"][0]["text"] == "Region-based segmentation"
    for name in ("report.json", "report.md", "deploy.yaml", "results.jsonl",
                 "build/efficientnet_lite0_Ascend310P3.atc.sh", "build/efficientnet_lite0_Ascend310P3.om.json"):
        assert (out / name).is_file(), name
    assert not list(out.rglob("*.om")), "the demo must never produce a file that claims to be an .om"
