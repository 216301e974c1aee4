"""convert: finding atc, its environment, plan mode, the sidecar, and ATC failures diagnosed.

There is no CANN here: atc is the test double tests/fixtures/atc/atc inside a toolkit tree laid out like
docs/reference.md [cann-install]. It records its argv, prints a real ATC log from the seed and exits as told.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from omdeploy.ascend.aipp import aipp_from_spec, parse_aipp
from omdeploy.ascend.atc import parse_atc
from omdeploy.ascend.convert import atc_environment, convert, find_atc, python_findings
from omdeploy.errors import UserError
from omdeploy.spec import DeploySpec, Sidecar

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "atc"
ARCH = os.uname().machine
TBE_HERE = importlib.util.find_spec("tbe") is not None  # only where a real CANN toolkit is on sys.path


def make_toolkit(root: Path, version: str = "8.0.0") -> Path:
    """<root>/ascend-toolkit/<version> with bin/atc (the test double), opp/, the install info and devlib, and
    the `latest` link to it; returns the toolkit home <root>/ascend-toolkit/latest."""
    version_dir = root / "ascend-toolkit" / version
    for sub in ("bin", "opp", "lib64", "{}-linux/devlib".format(ARCH)):
        (version_dir / sub).mkdir(parents=True)
    shutil.copy(FIXTURES / "atc", version_dir / "bin" / "atc")
    (version_dir / "bin" / "atc").chmod(0o755)
    (version_dir / "{}-linux".format(ARCH) / "devlib" / "libascend_hal.so").write_bytes(b"")
    (version_dir / "{}-linux".format(ARCH) / "ascend_toolkit_install.info").write_text(
        "package_name=Ascend-cann-toolkit\nversion={}\ninnerversion=V100R001C20SPC001B251\narch={}\nos=linux\n"
        "path={}\n".format(version, ARCH, version_dir))
    (root / "ascend-toolkit" / "latest").symlink_to(version)
    (root / "ascend-toolkit" / "set_env.sh").write_text("export ASCEND_TOOLKIT_HOME={}\n".format(
        root / "ascend-toolkit" / "latest"))
    return root / "ascend-toolkit" / "latest"


@pytest.fixture
def python_bin(tmp_path) -> Path:
    """A PATH entry whose python3 is this interpreter (ATC's Python is the first python3 on PATH)."""
    bin_dir = tmp_path / "pybin"
    bin_dir.mkdir()
    # a wrapper, not a symlink: Python 3.8 looks for pyvenv.cfg beside the link, so a linked venv python
    # would run without the venv's packages
    wrapper = bin_dir / "python3"
    wrapper.write_text('#!/bin/sh\nexec "{}" "$@"\n'.format(sys.executable))
    wrapper.chmod(0o755)
    return bin_dir


@pytest.fixture
def toolkit_env(tmp_path, monkeypatch, python_bin):
    """HOME with ~/Ascend holding a toolkit; set_env.sh not sourced; atc reachable only via the default root."""
    home_dir = tmp_path / "home"
    toolkit = make_toolkit(home_dir / "Ascend")
    for name in ("ASCEND_TOOLKIT_HOME", "ASCEND_OPP_PATH", "LD_LIBRARY_PATH", "PYTHONPATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home_dir))
    monkeypatch.setenv("PATH", "{}{}/usr/bin:/bin".format(python_bin, os.pathsep))
    monkeypatch.setenv("FAKE_ATC_ARGS", str(tmp_path / "atc_args"))
    return toolkit


@pytest.fixture
def squeezenet_spec(assets, tmp_path) -> Path:
    """A JSON spec (no YAML needed) for a real ONNX model from the assets."""
    path = tmp_path / "deploy.json"
    path.write_text(json.dumps({
        "model": str(assets.model("light_squeezenet.onnx")), "name": "squeezenet",
        "target": {"soc_version": "Ascend310B4", "cann": "8.0.RC3"},
        "inputs": [{"name": "data_0", "shape": [1, 3, 224, 224]}], "outputs": [{"name": "softmaxout_1"}],
        "preprocess": {"where": "aipp", "color": "bgr", "device_format": "rgb", "mean": [104, 117, 123]},
    }))
    return path


# ---- finding atc and its environment ----------------------------------------------------------------

def test_find_atc_in_default_root_then_toolkit_home_then_path(tmp_path, python_bin):
    env = {"HOME": str(tmp_path / "home"), "PATH": ""}
    assert find_atc(env) is None
    default = make_toolkit(tmp_path / "home" / "Ascend")
    found = find_atc(env)
    assert (found.atc, found.home, found.version, found.found_by) == (
        default / "bin" / "atc", default, "8.0.0", "default root {}".format(tmp_path / "home" / "Ascend"))
    other = make_toolkit(tmp_path / "opt", version="8.0.RC3")
    found = find_atc(dict(env, ASCEND_TOOLKIT_HOME=str(other)))
    assert (found.home, found.version, found.found_by) == (other, "8.0.RC3", "ASCEND_TOOLKIT_HOME")
    found = find_atc(dict(env, ASCEND_TOOLKIT_HOME=str(other), PATH=str(default / "bin")))
    assert (found.home, found.found_by) == (default, "PATH")


def test_environment_without_set_env_gets_its_variables_and_devlib(toolkit_env):
    install = find_atc()
    env, findings = atc_environment(install)
    home = str(toolkit_env)
    assert env["ASCEND_OPP_PATH"] == home + "/opp" and env["ASCEND_TOOLKIT_HOME"] == home
    assert env["PYTHONPATH"].split(os.pathsep)[:2] == [home + "/python/site-packages",
                                                      home + "/opp/built-in/op_impl/ai_core/tbe"]
    assert env["PATH"].split(os.pathsep)[0] == home + "/bin"
    devlib = "{}/{}-linux/devlib".format(home, ARCH)
    assert env["LD_LIBRARY_PATH"].split(os.pathsep)[0] == devlib
    messages = [f.message for f in findings]
    assert any("set_env.sh was not sourced" in m for m in messages)
    assert any(devlib in m and "libascend_hal.so" in m for m in messages)
    # the toolkit's own Python package is not in this fake tree: reported as ATC would fail on it
    assert any("cannot import 'tbe'" in m for m in messages) == (not TBE_HERE)


def test_environment_keeps_a_sourced_set_env(toolkit_env, monkeypatch):
    monkeypatch.setenv("ASCEND_OPP_PATH", "/somewhere/opp")
    env, findings = atc_environment(find_atc())
    assert env["ASCEND_OPP_PATH"] == "/somewhere/opp" and "PYTHONPATH" not in env
    assert not any("set_env.sh" in f.message for f in findings)


def test_python_findings_name_missing_modules_and_numpy2(python_bin):
    import numpy

    table = {"atc_python": [{"dist": "numpy", "min": "1.19.2", "below": "2", "why_below": "np.float_ is gone"},
                            {"dist": "no-such-dist-xyz"}, {"dist": "pytest", "min": "999"}],
             "toolkit_imports": ["no_such_module_xyz", "json"]}
    findings = python_findings({"PATH": str(python_bin)}, table)
    messages = [f.message for f in findings]
    assert any("has no 'no-such-dist-xyz'" in m and "EC0010" in m for m in messages)
    assert any("pytest" in m and "is older than 999" in m for m in messages)
    assert any("cannot import 'no_such_module_xyz'" in m for m in messages)
    assert not any("'json'" in m for m in messages)
    numpy2 = [f for f in findings if "np.float_ is gone" in f.message]
    assert len(numpy2) == (1 if int(numpy.__version__.split(".")[0]) >= 2 else 0)
    assert python_findings({"PATH": ""})[0].message.startswith("no python3 on PATH")


def test_default_rule_table_is_the_doctors(python_bin):
    from omdeploy.ascend.doctor import rules

    names = {row["dist"] for row in rules()["atc_python"]}
    assert {"decorator", "sympy", "numpy"} <= names
    findings = python_findings({"PATH": str(python_bin)})
    assert any("cannot import 'tbe'" in f.message for f in findings) == (not TBE_HERE)


# ---- plan ---------------------------------------------------------------------------------------------

@pytest.mark.needs_torch
def test_plan_efficientnet_lite0_for_310p3_with_fp16_input(cli, efficientnet_onnx, tmp_path, toolkit_env):
    out = tmp_path / "out"
    result = cli("convert", efficientnet_onnx, "--soc", "Ascend310P3", "--fp16-input", "--plan", "-o", out, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["status"] == "planned" and not data["built"]
    om = out / "efficientnet_lite0_Ascend310P3.om"
    assert data["om"] == str(om) and not om.exists()
    options = parse_atc(data["argv"])
    assert options["input_fp16_nodes"] == "input" and options["soc_version"] == "Ascend310P3"
    sidecar = Sidecar.load(Sidecar.path_for(om))
    assert not sidecar.built and sidecar.result.sha256 is None and "no .om was produced" in sidecar.note
    assert sidecar.source.sha256 == hashlib.sha256(Path(efficientnet_onnx).read_bytes()).hexdigest() and sidecar.atc_argv == data["argv"]
    assert sidecar.inputs[0].dtype == "float16" and sidecar.deploy_spec().model_path == efficientnet_onnx
    # the script runs as written: the test double records the argv it got, from a temporary directory
    run = subprocess.run(["sh", data["script"]], capture_output=True, text=True,
                         env=dict(os.environ, PATH="{}:{}".format(toolkit_env / "bin", os.environ["PATH"])))
    assert run.returncode == 0, run.stderr
    args_file = Path(os.environ["FAKE_ATC_ARGS"])
    assert args_file.read_text().splitlines() == data["argv"][1:]
    assert Path(args_file.with_name("atc_args.cwd").read_text().strip()) != out
    text = cli("convert", efficientnet_onnx, "--soc", "Ascend310P3", "--fp16-input", "--plan", "-o", out)
    assert text.code == 0 and "no .om was produced" in text.out and "--input_fp16_nodes=input" in text.out


@pytest.mark.needs_torch
def test_plan_efficientnet_lite0_with_aipp_feeding_float16(cli, efficientnet_onnx, tmp_path, assets):
    """The same model with its preprocessing in AIPP: the .om takes uint8 NHWC and AIPP writes the float16
    the network reads (ATC refuses --input_fp16_nodes on an AIPP input, so --fp16-input leaves it alone)."""
    from omdeploy.ascend.aipp import emulate
    from omdeploy.tasks.image import load_image
    from omdeploy.tasks.preprocess import fit
    from omdeploy.zoo.efficientnet_lite import PREPROCESS

    spec_file = tmp_path / "effnet.json"
    spec_file.write_text(json.dumps({
        "model": str(efficientnet_onnx), "target": {"soc_version": "Ascend310P3"},
        "inputs": [{"name": "input", "shape": [1, 3, 224, 224]}], "outputs": [{"name": "logits"}],
        "preprocess": dict(PREPROCESS, where="aipp")}))
    out = tmp_path / "out"
    result = cli("convert", spec_file, "--fp16-input", "--plan", "-o", out, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    stem = out / "efficientnet_lite0_Ascend310P3"
    assert [data["script"], data["aipp_file"], data["sidecar"]] == [
        str(stem) + ".atc.sh", str(stem) + ".aipp.cfg", str(stem) + ".om.json"]
    options = parse_atc(data["argv"])
    assert options["insert_op_conf"] == data["aipp_file"] and "input_fp16_nodes" not in options
    sidecar = Sidecar.load(data["sidecar"])
    assert (sidecar.inputs[0].shape, sidecar.inputs[0].dtype) == ([1, 224, 224, 3], "uint8") and not sidecar.built
    # what the written AIPP file feeds the network equals the host preprocessing, to float16 precision
    (config,) = parse_aipp(Path(data["aipp_file"]).read_text())
    spec = DeploySpec.load(spec_file)
    image, _ = fit(load_image(assets.image("coffee.png")), 224, 224, spec.preprocess)
    host = (image.transpose(2, 0, 1).astype(np.float32) - 127.0) / 128.0
    assert np.abs(emulate(config, image).astype(np.float32) - host).max() < 1e-3


def test_plan_with_aipp_writes_script_aipp_file_and_sidecar(cli, squeezenet_spec, tmp_path, toolkit_env):
    out = tmp_path / "out"
    result = cli("convert", squeezenet_spec, "--plan", "-o", out, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    aipp_file = out / "squeezenet_Ascend310B4.aipp.cfg"
    assert data["aipp_file"] == str(aipp_file) and Path(data["script"]).is_file()
    assert parse_atc(data["argv"])["insert_op_conf"] == str(aipp_file)
    spec = DeploySpec.load(squeezenet_spec)
    (config,) = parse_aipp(aipp_file.read_text())
    assert config == aipp_from_spec(spec, "data_0") and config.rbuv_swap_switch and config.mean_chn_2 == 123
    sidecar = Sidecar.load(out / "squeezenet_Ascend310B4.om.json")
    assert (sidecar.inputs[0].shape, sidecar.inputs[0].dtype, sidecar.inputs[0].layout) == (
        [1, 224, 224, 3], "uint8", "NHWC")
    assert sidecar.aipp_file == str(aipp_file) and sidecar.cann_version == "8.0.RC3"


def test_no_atc_writes_the_plan_and_exits_1(cli, squeezenet_spec, tmp_path, monkeypatch, python_bin):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(python_bin))
    monkeypatch.delenv("ASCEND_TOOLKIT_HOME", raising=False)
    result = cli("convert", squeezenet_spec, "-o", tmp_path / "out")
    assert result.code == 1
    assert "atc was not found" in result.out and "no .om was produced" in result.out
    sidecar = Sidecar.load(tmp_path / "out" / "squeezenet_Ascend310B4.om.json")
    assert not sidecar.built and "no atc found" in sidecar.note


# ---- running (the test double) -------------------------------------------------------------------------

def test_successful_run_writes_the_sidecar(squeezenet_spec, tmp_path, toolkit_env):
    out = tmp_path / "out"
    result = convert(DeploySpec.load(squeezenet_spec), out)
    assert result.status == "built", result.error_lines
    sidecar = Sidecar.load(result.sidecar)
    assert sidecar.built and sidecar.result.sha256 == hashlib.sha256(Path(result.om).read_bytes()).hexdigest()
    assert sidecar.atc_argv == result.argv and result.argv[0] == str(toolkit_env / "bin" / "atc")
    assert sidecar.cann_version == "8.0.0"  # from the toolkit's install info, not the spec
    assert Path(os.environ["FAKE_ATC_ARGS"]).read_text().splitlines() == result.argv[1:]
    workdir = Path(Path(os.environ["FAKE_ATC_ARGS"] + ".cwd").read_text().strip())
    assert workdir.name.startswith("omdeploy-atc-") and not workdir.exists()
    assert "ATC run success" in result.log.read_text()


def test_a_plan_next_to_a_built_om_keeps_its_sidecar(cli, squeezenet_spec, tmp_path, toolkit_env):
    out = tmp_path / "out"
    built = convert(DeploySpec.load(squeezenet_spec), out)
    assert built.status == "built", built.error_lines
    before = built.sidecar.read_bytes()
    result = cli("convert", squeezenet_spec, "--plan", "-o", out, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["sidecar"] == str(out / "squeezenet_Ascend310B4.plan.json")
    assert built.sidecar.read_bytes() == before and Sidecar.load(built.sidecar).built  # provenance kept
    plan = Sidecar.load(data["sidecar"])
    assert not plan.built and "squeezenet_Ascend310B4.om.json is the existing .om's" in plan.note
    assert "squeezenet_Ascend310B4.plan.json" in Path(data["script"]).read_text()


@pytest.mark.parametrize("log,code,words", [
    ("ec0010_decorator.log", "EC0010", "decorator"),
    ("ec0010_tbe.log", "EC0010", "tbe"),
    ("ec0010_numpy2.log", "EC0010", "np.float_"),
    ("e10007_framework.log", "E10007", "--framework"),
    ("libascend_hal.log", None, "libascend_hal.so"),
])
def test_failed_atc_log_is_diagnosed(cli, squeezenet_spec, tmp_path, toolkit_env, monkeypatch, log, code, words):
    monkeypatch.setenv("FAKE_ATC_LOG", str(FIXTURES / log))
    monkeypatch.setenv("FAKE_ATC_EXIT", "1")
    out = tmp_path / "out"
    result = cli("convert", squeezenet_spec, "-o", out, "--json")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["status"] == "failed" and data["sidecar"] is None and data["returncode"] == 1
    assert (FIXTURES / log).read_text() in Path(data["log"]).read_text()
    first = data["diagnoses"][0]  # the error knowledge base (omdeploy.ascend.knowledge), root cause first
    assert words in first["evidence"] and first["code"] == code and first["confidence"] == "high"
    assert any(words in line for line in data["error_lines"])
    text = cli("convert", squeezenet_spec, "-o", out)
    assert text.code == 1 and "atc failed (exit 1)" in text.out
    assert "diagnosis (high): " + first["title"] in text.out


def test_atc_exit_0_without_om_is_a_failure(squeezenet_spec, tmp_path, toolkit_env):
    fake = toolkit_env / "bin" / "atc"
    fake.write_text("#!/bin/sh\necho 'ATC run success, welcome to the next use.'\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "squeezenet_Ascend310B4.om").write_text("left over from an earlier run")
    result = convert(DeploySpec.load(squeezenet_spec), out)
    assert result.status == "failed" and "did not write" in result.error_lines[-1]


def test_own_aipp_file_from_a_migrated_command(tmp_path, assets):
    conf = tmp_path / "seed_aipp.cfg"
    conf.write_text("aipp_op {\n aipp_mode: static\n input_format: RGB888_U8\n src_image_size_w: 224\n"
                    " src_image_size_h: 208\n padding: true\n bottom_padding_size: 16\n}\n")
    spec = DeploySpec.from_dict({"model": str(assets.model("light_squeezenet.onnx")),
                                 "inputs": [{"name": "data_0", "shape": [1, 3, 224, 224]}],
                                 "atc": {"insert_op_conf": conf.name}}, base_dir=str(tmp_path))
    result = convert(spec, tmp_path / "out", plan=True)
    assert parse_atc(result.argv)["insert_op_conf"] == str(conf)
    sidecar = Sidecar.load(result.sidecar)
    assert (sidecar.inputs[0].shape, sidecar.inputs[0].dtype) == ([1, 208, 224, 3], "uint8")
    assert sidecar.deploy_spec().atc.insert_op_conf == str(conf)


# ---- migrating an atc command ------------------------------------------------------------------------------

def test_from_atc_plans_the_same_command_and_saves_the_spec(cli, assets, tmp_path, toolkit_env):
    model = assets.model("light_squeezenet.onnx")
    command = ('atc --model={} --framework=5 --output=squeeze --soc_version=Ascend310P3 --input_format=NCHW '
               '--input_fp16_nodes="data_0" --input_shape="data_0:1,3,224,224" --output_type=FP32 --log=error'
               .format(model))
    result = cli("convert", "--from-atc", command, "--plan", "-o", tmp_path, "--save-spec", tmp_path / "s.json",
                 "--json")
    assert result.code == 0, result.err
    planned = parse_atc(json.loads(result.out)["argv"])
    given = parse_atc(command)
    assert planned.pop("output") == str(tmp_path / "squeeze_Ascend310P3") and given.pop("output") == "squeeze"
    assert planned == given
    assert DeploySpec.load(tmp_path / "s.json").atc.options == {"log": "error"}


def test_user_errors_exit_2(cli, tmp_path, squeezenet_spec):
    assert cli("convert", tmp_path / "missing.onnx.json").code == 2
    assert cli("convert", tmp_path / "model.pt").code == 2
    assert cli("convert", squeezenet_spec, "--soc", "Ascend310P9", "--plan", "-o", tmp_path).code == 2
    spec = DeploySpec.load(squeezenet_spec)
    spec.model = str(tmp_path / "gone.onnx")
    with pytest.raises(UserError, match="does not exist"):
        convert(spec, tmp_path, plan=True)


def test_outputs_that_are_the_wrong_kind_of_path_are_user_errors(cli, squeezenet_spec, tmp_path):
    taken = tmp_path / "build"
    taken.write_text("a file where the output folder goes\n")
    r = cli("convert", squeezenet_spec, "--plan", "-o", taken)
    assert r.code == 2 and "expected the folder for the outputs" in r.err and "internal error" not in r.err
    r = cli("convert", squeezenet_spec, "--plan", "-o", tmp_path / "out", "--save-spec", tmp_path)
    assert r.code == 2 and "--save-spec {} is a folder".format(tmp_path) in r.err
    assert not (tmp_path / "out").exists()  # refused before anything was written
