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
    from tests.runtime.tiny_models import scale_model

    scale_model(tmp_path / "m.onnx")  # "valid" means convert accepts it: the model must exist
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
    # batch frozen to 1 beside H/W gears: ATC's gear options exclude each other (--dynamic_image_size)
    assert spec.inputs[0].shape == [1, 3, -1, -1] and spec.inputs[0].layout == "NCHW"
    assert spec.dynamic.mode == "image_size"


def test_console_script_runs_in_a_subprocess(tmp_path):
    r = subprocess.run([sys.executable, "-m", "omdeploy.cli.main", "inspect", str(tmp_path / "x.onnx")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ")
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [("inspect", "--bogus"), ("inspect",), ("nosuchverb",),
                                  ("bench", "m.onnx", "--batch", "0"), ("explain", "-5")])
def test_usage_errors_are_one_error_line_and_a_hint(cli, args):
    r = cli(*args)
    lines = r.err.strip().splitlines()
    assert r.code == 2 and r.out == ""
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), r.err


def test_an_unwritable_output_is_a_user_error_not_an_internal_one(cli, tmp_path):
    taken = tmp_path / "report"
    taken.write_text("a file where demo wants its folder\n")
    r = cli("demo", "-o", taken, "--assets", tmp_path / "no-assets")
    assert r.code == 2, r.err
    assert r.err.startswith("error: cannot use {}".format(taken)) and "internal error" not in r.err


def test_an_eoferror_is_not_taken_for_ctrl_d(cli, monkeypatch):
    import omdeploy.cli.explain as explain

    def fail(number):
        raise EOFError("Ran out of input")  # e.g. a file read short; click turns it into a silent Abort

    monkeypatch.setattr(explain, "describe_code", fail)
    r = cli("explain", "507011")
    assert r.code == 1 and "internal error: EOFError: Ran out of input" in r.err, r


@pytest.mark.parametrize("args", [(), ("aipp",)])
def test_no_arguments_still_shows_the_help(cli, args):
    r = cli(*args)
    assert r.code == 2 and (r.out + r.err).startswith("Usage: omdeploy") and "Commands:" in r.out + r.err


def test_ctrl_c_inside_a_command_says_interrupted(cli, monkeypatch):
    import omdeploy.cli.spec as spec_cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(spec_cli.DeploySpec, "schema_lines", staticmethod(interrupted))
    r = cli("spec", "--schema")
    assert r.code == 130
    assert r.err.strip() == "interrupted"
