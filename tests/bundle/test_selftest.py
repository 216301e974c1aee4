"""selftest end to end against the strict fakes: the fake atc (tests/fakes/atc) builds, the fake acl runs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from omdeploy.tools.selftest import QUESTIONS
from tests.fakes import fakes_on_path

pytestmark = pytest.mark.needs_onnx

DOCS = Path(__file__).resolve().parents[2] / "docs" / "bundle.md"


def test_selftest_end_to_end_against_the_fakes(cli, fake_cann, tmp_path):
    with fakes_on_path():
        result = cli("selftest", "--soc", "Ascend310P3", "--report", tmp_path / "selftest.json", "--json",
                     "--keep", tmp_path / "work")
    data = json.loads(result.out)
    assert result.code == 0, json.dumps(data["checks"], indent=1)[:3000]
    names = [c["name"] for c in data["checks"]]
    for tiny in ("static", "batch_gears", "image_size_gears", "aipp", "overflow", "copy"):
        assert "build." + tiny in names and "run." + tiny in names
    answers = {q["id"]: q["answer"] for q in data["questions"]}
    assert [q["id"] for q in data["questions"]] == [k for k, _ in QUESTIONS]
    assert answers["gear_api"]["get_input_dynamic_gear_count"] is True
    assert answers["init_after_finalize"] == {"works": True} and answers["two_models"] == {"works": True}
    # the fake device computes the reduction in fp32 (it runs the ONNX on onnxruntime): no overflow, unlike
    # the 310P the simulator emulates, which saturates at 65504; selftest reports the disagreement as measured
    assert answers["overflow_mode"]["device_value"] == 102400.0
    assert answers["overflow_mode"]["simulator_mode"] == "saturation"
    assert answers["overflow_mode"]["matches_simulator"] is False
    assert answers["bandwidth"]["h2d_mb_s"] > 0 and answers["bandwidth"]["d2h_mb_s"] > 0
    assert answers["dynamic_dims"]["get_input_dims"]["dims"][0] == -1  # the fake reports -1, as documented
    assert "error" in answers["mindx"] or answers["mindx"]
    assert json.loads((tmp_path / "selftest.json").read_text())["questions"] == data["questions"]
    markdown = (tmp_path / "selftest.md").read_text()
    assert all("- `{}`: {}".format(k, q) in markdown for k, q in QUESTIONS)
    argv = (tmp_path / "atc_args").read_text().split()  # the last build: the fake checked it with ATC's parser
    assert "--soc_version=Ascend310P3" in argv


def test_without_cann_selftest_says_what_is_missing_and_exits_1(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("ASCEND_TOOLKIT_HOME", raising=False)
    result = cli("selftest", "--json")
    assert result.code == 1
    data = json.loads(result.out)
    missing = {c["name"] for c in data["checks"] if c["status"] == "fail"}
    assert {"missing.atc", "missing.pyacl", "missing.npu"} <= missing
    assert all(c["fix"] for c in data["checks"])


def test_the_docs_list_the_questions_selftest_answers():
    """docs/bundle.md's "Open for hardware" list and QUESTIONS are one list."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Open for hardware", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^- `([a-z_0-9]+)`: (.+)$", section, flags=re.M)
    assert listed == list(QUESTIONS)
