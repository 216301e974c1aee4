"""The CLI contract every verb follows: --json, exit codes 0/1/2, one-line errors without tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from omdeploy import __version__


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and r.out.strip() == "omdeploy " + __version__


def test_help_lists_verbs(cli):
    r = cli("--help")
    assert r.code == 0
    for verb in ("inspect", "spec", "demo"):
        assert verb in r.out


@pytest.mark.needs_onnx
@pytest.mark.needs_assets
def test_inspect_json_is_machine_readable(cli, assets):
    r = cli("inspect", assets.model("ppocrv4_det.onnx"), "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["opsets"]["ai.onnx"] == 12
    assert [d["axis"] for d in data["dynamic_dims"]][-2:] == [2, 3]


@pytest.mark.needs_onnx
@pytest.mark.needs_assets
def test_inspect_human_output(cli, assets):
    r = cli("inspect", assets.model("light_resnet50.onnx"))
    assert r.code == 0
    assert "ai.onnx 9" in r.out and "Conv" in r.out and "dynamic dims: none" in r.out


def test_user_error_is_one_line_exit_2(cli, tmp_path):
    r = cli("inspect", tmp_path / "missing.onnx")
    assert r.code == 2
    assert r.err.strip().splitlines()[0] == "error: {} does not exist".format(tmp_path / "missing.onnx")
    assert "Traceback" not in r.err


def test_unknown_option_exit_2(cli):
    r = cli("inspect", "--bogus")
    assert r.code == 2
    assert "Traceback" not in r.err


def test_spec_validation_errors_exit_2(cli, tmp_path):
    bad = tmp_path / "deploy.yaml"
    bad.write_text("model: m.onnx\ntarget: {soc: Ascend310P3}\n")
    r = cli("spec", bad)
    assert r.code == 2
    assert "target.soc: unknown key (did you mean 'soc_version'?)" in r.err


def test_spec_schema_and_valid_spec(cli, tmp_path):
    r = cli("spec", "--schema", "--json")
    assert r.code == 0 and any("soc_version" in line for line in json.loads(r.out)["schema"])
    good = tmp_path / "deploy.yaml"
    good.write_text("model: m.onnx\n")
    r = cli("spec", good, "--json")
    assert r.code == 0 and json.loads(r.out)["valid"] is True


@pytest.mark.needs_onnx
@pytest.mark.needs_assets
def test_spec_init_from_model(cli, tmp_path, assets):
    out = tmp_path / "det.yaml"
    r = cli("spec", "--init", assets.model("ppocrv4_det.onnx"), "-o", out, "--soc", "Ascend310B4")
    assert r.code == 0, r.err
    from omdeploy.spec import DeploySpec

    spec = DeploySpec.load(out)
    assert spec.target.soc_version == "Ascend310B4"
    assert spec.inputs[0].shape == [-1, 3, -1, -1] and spec.inputs[0].layout == "NCHW"


def test_console_script_runs_in_a_subprocess(tmp_path):
    r = subprocess.run([sys.executable, "-m", "omdeploy.cli.main", "inspect", str(tmp_path / "x.onnx")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ")
    assert "Traceback" not in r.stderr
