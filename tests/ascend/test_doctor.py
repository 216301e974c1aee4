"""omdeploy doctor and explain: checks on fixture installs, snapshots, and the CLI contract."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from omdeploy.ascend import doctor, setenv
from omdeploy.ascend.cann import scan
from omdeploy.ascend.doctor import PythonEnv, compare_snapshot, load_snapshot, run_doctor
from omdeploy.errors import UserError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TREES = FIXTURES / "cann"
LOGS = FIXTURES / "logs"
SEED_NPU_SMI = (LOGS / "npu-smi" / "seed_310p3.txt").read_text(encoding="utf-8")
GOOD_DISTS = {"decorator": "5.1.1", "sympy": "1.12", "scipy": "1.10.1", "psutil": "5.9.8", "attrs": "23.2.0",
              "protobuf": "3.20.3", "numpy": "1.24.4"}


def python_env(imports=None, **dists):
    found = dict(GOOD_DISTS)
    found.update(dists)
    return PythonEnv("/usr/bin/python3", "3.8.10", dict({"tbe": None, "te": None, "acl": None}, **(imports or {})),
                     {k: v for k, v in found.items() if v})


def sourced_env(home: str) -> dict:
    """What `source <root>/ascend-toolkit/set_env.sh` leaves in the environment (docs/reference.md [cann-install])."""
    return {"HOME": "/nonexistent", "ASCEND_TOOLKIT_HOME": home, "ASCEND_OPP_PATH": home + "/opp",
            "PYTHONPATH": os.pathsep.join([home + "/python/site-packages", home + "/opp/built-in/op_impl/ai_core/tbe"]),
            "LD_LIBRARY_PATH": os.pathsep.join(["/usr/local/Ascend/driver/lib64", home + "/lib64"]),
            "PATH": os.pathsep.join([home + "/bin", "/usr/bin"])}


def box(tree: str, env=None, npu=SEED_NPU_SMI, py=None, arch="aarch64"):
    root = TREES / tree / "Ascend"
    env = sourced_env(str(root / "ascend-toolkit" / "latest")) if env is None else env
    return run_doctor([root], env=env, arch=arch, npu_smi_text=npu, probe=lambda: py or python_env())


def checks(report, severity=None):
    return [f.rule for f in report.findings if severity is None or f.severity == severity]


# ---------------------------------------------------------------------------------------------- whole reports
def test_healthy_box_has_no_errors_and_suggests_the_soc_version():
    report = box("v800_aarch64")
    assert report.errors == []
    assert report.soc_version == "Ascend310P3"
    assert "convert for this box with --soc Ascend310P3" in [f.message for f in report.findings]


def test_seed_mixed_box_is_an_error_naming_all_three_versions():
    report = box("mixed_seed")
    assert checks(report, "error") == ["cann.versions"]
    message = report.errors[0].message
    assert all(v in message for v in ("toolkit 8.0.0", "kernels 8.1.RC3", "nnrt 8.1.RC1"))


def test_this_machine_without_cann_reports_not_found_and_does_not_crash():
    report = run_doctor(roots=[Path("/nonexistent/Ascend")], npu_smi_text=None)
    assert "cann.found" in checks(report, "error")
    assert report.python is not None and report.python.executable  # the real interpreter was examined
    json.dumps(report.to_dict())


def test_real_probe_sees_this_interpreter():
    import numpy

    py = doctor.probe_python()
    assert py.dists["numpy"] == numpy.__version__
    assert py.imports["acl"] is not None and "acl" in py.imports["acl"]  # no CANN here
    assert os.path.realpath(py.executable) == os.path.realpath(sys.executable)


# ---------------------------------------------------------------------------------------------- environment
def test_set_env_not_sourced_is_an_error_with_the_script_to_source():
    report = box("v800_aarch64", env={"HOME": "/nonexistent"})
    finding = next(f for f in report.findings if f.rule == "env.set_env")
    assert finding.severity == "error" and "ASCEND_OPP_PATH" in finding.message
    assert finding.fix.startswith("source ") and finding.fix.split()[1].endswith("ascend-toolkit/set_env.sh")


def test_set_env_partly_in_effect_names_the_missing_part():
    env = sourced_env(str(TREES / "v800_aarch64" / "Ascend" / "ascend-toolkit" / "latest"))
    env["PYTHONPATH"] = ""
    finding = next(f for f in box("v800_aarch64", env=env).findings if f.rule == "env.set_env")
    assert finding.severity == "warning"
    assert "python/site-packages" in finding.message and "ASCEND_OPP_PATH" not in finding.message


def test_x86_without_driver_needs_devlib_on_ld_library_path():
    home = str(TREES / "v800_x86_user" / "Ascend" / "ascend-toolkit" / "latest")
    report = box("v800_x86_user", env=sourced_env(home), npu=None, arch="x86_64")
    finding = next(f for f in report.findings if f.rule == "env.devlib")
    assert finding.severity == "error" and "libascend_hal.so" in finding.message
    assert finding.fix.startswith("export LD_LIBRARY_PATH=") and "x86_64-linux/devlib" in finding.fix
    fixed = sourced_env(home)
    fixed["LD_LIBRARY_PATH"] += os.pathsep + home + "/x86_64-linux/devlib"
    assert "env.devlib" not in checks(box("v800_x86_user", env=fixed, npu=None, arch="x86_64"))


def test_stub_on_the_box_is_flagged():
    home = str(TREES / "v800_x86_user" / "Ascend" / "ascend-toolkit" / "latest")
    result = scan([TREES / "v800_x86_user" / "Ascend"])
    result.components.append(scan([TREES / "v800_aarch64" / "Ascend"]).driver)
    env = {"LD_LIBRARY_PATH": home + "/x86_64-linux/devlib"}
    findings = doctor.hal_findings(result, env, "x86_64")
    assert [f.rule for f in findings] == ["env.stub"] and "100039" in findings[0].message


def test_atc_python_modules_numpy2_and_tbe():
    py = python_env(imports={"tbe": "ModuleNotFoundError: No module named 'tbe'"}, decorator=None, numpy="2.1.0")
    report = box("v800_aarch64", py=py)
    messages = [f.message for f in report.findings if f.rule.startswith("python.")]
    assert any("decorator" in m for m in messages)
    assert any("numpy 2.1.0 is too new" in m for m in messages)
    tbe = next(f for f in report.findings if f.rule == "python.tbe")
    assert "set_env.sh" in tbe.fix
    assert all(f.severity == "error" for f in report.findings if f.rule in ("python.atc", "python.tbe"))


def test_pyacl_missing_is_an_error_only_on_the_npu_box():
    py = python_env(imports={"acl": "ModuleNotFoundError: No module named 'acl'"})
    assert [f.severity for f in box("v800_aarch64", py=py).findings if f.rule == "python.pyacl"] == ["error"]
    assert [f.severity for f in box("v800_aarch64", py=py, npu=None).findings
            if f.rule == "python.pyacl"] == ["info"]


# ---------------------------------------------------------------------------------------------- torch, unsupported
@pytest.mark.parametrize("dists,expected", [
    ({"torch": "2.1.0", "torch_npu": "2.1.0.post10", "torchvision": "0.16.0"}, []),
    ({"torch": "2.4.0", "torch_npu": "2.1.0.post10"}, ["error"]),  # torch_npu built for another torch
    ({"torch": "2.1.0", "torch_npu": "2.1.0.post10", "torchvision": "0.19.1"}, ["error"]),  # seed's pair
    ({"torch": "2.4.0", "torch_npu": "2.4.0"}, ["warning"]),  # torch_npu for CANN 8.0.RC3 on an 8.0.0 box
    ({"torch": "2.13.0+cpu"}, []),
])
def test_torch_pairing(dists, expected):
    findings = doctor.torch_findings(python_env(**dists), "8.0.0")
    assert [f.severity for f in findings] == expected


def test_torch_npu_for_another_cann_suggests_the_right_release():
    finding = doctor.torch_findings(python_env(torch="2.4.0", torch_npu="2.4.0"), "8.0.0")[0]
    assert "CANN 8.0.RC3" in finding.message and finding.fix == "pip install torch-npu==2.4.0.post2"


def test_torch_npu_table_rows_pair_with_their_torch():
    table = doctor.torch_npu_table()
    for row in table["releases"]:
        assert doctor.torch_base(row["torch_npu"]) == row["torch"], row
    assert {"torch_npu": "2.1.0.post10", "torch": "2.1.0", "cann": "8.0.0"} in table["releases"]


def test_openvino_on_the_aarch64_box_and_mindie_on_310p():
    py = python_env(openvino="2025.1.0", mindietorch="1.0.0")
    found = {f.rule: f for f in box("v800_aarch64", py=py).findings}
    assert "unsupported.openvino-aarch64" in found and "unsupported.mindie-310p" in found
    assert "Ascend310P3" in found["unsupported.mindie-310p"].message
    on_x86 = box("v800_x86_user", py=py, npu=None, arch="x86_64")
    assert not [f for f in on_x86.findings if f.rule.startswith("unsupported.")]


def test_unhealthy_310b_is_a_warning():
    npu = (LOGS / "npu-smi" / "310b4_orangepi.txt").read_text(encoding="utf-8")
    report = box("v800_aarch64", npu=npu)
    health = [f for f in report.findings if f.rule == "npu.health"]
    assert len(health) == 1 and "Alarm" in health[0].message
    assert report.soc_version == "Ascend310B4"


# the pip packages the CANN installation guide lists for ATC's op compiler [cann-install]: decorator >= 4.4.0,
# sympy >= 1.5.1, numpy >= 1.19.2 and below 2 (NumPy 2 removed np.float_), scipy, psutil, attrs, protobuf
CITED_ATC_PYTHON = {"decorator": ("4.4.0", None), "sympy": ("1.5.1", None), "scipy": (None, None),
                    "psutil": (None, None), "attrs": (None, None), "protobuf": (None, None), "numpy": ("1.19.2", "2")}


def test_the_atc_python_table_is_the_install_guides():
    assert {r["dist"]: (r.get("min"), r.get("below")) for r in doctor.rules()["atc_python"]} == CITED_ATC_PYTHON


@pytest.mark.parametrize("row", doctor.rules()["atc_python"], ids=lambda r: r["dist"])
def test_each_atc_module_rule_fires_when_missing(row):
    findings = doctor.python_findings(python_env(**{row["dist"]: None}), scan([TREES / "v800_aarch64" / "Ascend"]),
                                      True)
    assert any(row["dist"] in f.message for f in findings if f.rule == "python.atc")


@pytest.mark.parametrize("rule", setenv.checks(), ids=lambda r: r["expect"])
def test_each_set_env_rule_fires_when_its_part_is_missing(rule):
    result = scan([TREES / "v800_aarch64" / "Ascend"])
    env = sourced_env(result.toolkit_home)
    for var in rule["vars"]:
        env.pop(var, None) if rule["how"] == "equals" else env.update({var: "/elsewhere"})
    findings = doctor.set_env_findings(result, env)
    assert findings and rule["expect"].format(home=result.toolkit_home) in findings[0].message


# ---------------------------------------------------------------------------------------------- snapshots
def test_save_and_against_flags_the_toolkit_difference(tmp_path):
    training = box("v850_x86", npu=None, arch="x86_64")
    snapshot = tmp_path / "env.json"
    training.save(snapshot)
    findings = compare_snapshot(box("v800_aarch64"), load_snapshot(snapshot), str(snapshot))
    assert [f.severity for f in findings] == ["error"]
    assert "toolkit 8.5.0" in findings[0].message and "toolkit 8.0.0" in findings[0].message
    assert "507011" in findings[0].message and "500002" in findings[0].message
    same = compare_snapshot(box("v800_aarch64"), json.loads(json.dumps(box("v800_x86_user", npu=None).to_dict())))
    assert [f.severity for f in same] == ["info"]


@pytest.mark.parametrize("content", [b"", b"\x00\xff\x10binary", b'{"omdeploy_doctor_snapshot": 1, "cann": {"comp',
                                     b'{"some": "json"}', b"[1, 2]"])
def test_bad_snapshots_are_user_errors(tmp_path, content):
    path = tmp_path / "env.json"
    path.write_bytes(content)
    with pytest.raises(UserError):
        load_snapshot(path)
    with pytest.raises(UserError):
        load_snapshot(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------- CLI
def _clean_env(monkeypatch):
    for var in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH", "ASCEND_OPP_PATH"):
        monkeypatch.delenv(var, raising=False)


def test_cli_doctor_save_then_against(cli, tmp_path, monkeypatch):
    _clean_env(monkeypatch)
    snap = tmp_path / "training.json"
    first = cli("doctor", "--root", TREES / "v800_x86_user" / "Ascend", "--save", snap, "--json")
    assert first.code == 1  # set_env.sh is not sourced in the test environment
    assert json.loads(first.out)["saved"] == str(snap) and snap.is_file()
    second = cli("doctor", "--root", TREES / "mixed_seed" / "Ascend", "--npu-smi",
                 LOGS / "npu-smi" / "seed_310p3.txt", "--against", snap, "--json")
    assert second.code == 1
    data = json.loads(second.out)
    against = [f for f in data["findings"] if f["rule"] == "against.toolkit"]
    assert against[0]["severity"] == "error" and "kernels 8.1.RC3" in against[0]["message"]
    assert data["soc_version"] == "Ascend310P3"
    assert data["npu"]["chips"][0]["memory_total_mb"] == 21527


def test_cli_doctor_human_output_and_bad_inputs(cli, tmp_path, monkeypatch):
    _clean_env(monkeypatch)
    result = cli("doctor", "--root", tmp_path)
    assert result.code == 1 and "no CANN toolkit found" in result.out and "fix:" in result.out
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x00\x01")
    result = cli("doctor", "--against", bad)
    assert result.code == 2 and "not a doctor snapshot" in result.err and "Traceback" not in result.err
    empty = tmp_path / "npu.txt"
    empty.write_bytes(b"")
    assert cli("doctor", "--root", tmp_path, "--npu-smi", empty, "--json").code == 1
    assert cli("doctor", "--npu-smi", tmp_path / "missing.txt").code == 2


def test_cli_explain_codes(cli):
    result = cli("explain", "507011")
    assert result.code == 0
    assert "ACL_ERROR_RT_MODEL_EXECUTE" in result.out and "model execution failed" in result.out
    assert "likely causes" in result.out and "kernels" in result.out
    data = json.loads(cli("explain", "207001", "--json").out)
    assert data["name"] == "ACL_ERROR_RT_MEMORY_ALLOCATION" and "device memory allocation failed" in data["meaning"]
    assert any("--input_fp16_nodes" in f for f in data["fixes"])
    unknown = cli("explain", "123456", "--json")
    assert unknown.code == 1 and json.loads(unknown.out)["known"] is False
    ec = cli("explain", "ec0010", "--json")
    assert ec.code == 0 and {p["id"] for p in json.loads(ec.out)["patterns"]} >= {"no-module", "no-module-tbe"}


def test_cli_explain_logs_dirs_and_stdin(cli, tmp_path, monkeypatch):
    result = cli("explain", LOGS / "appendix1_500002_load.log")
    assert result.code == 1 and result.out.startswith("1. The .om was built by a CANN version")
    data = json.loads(cli("explain", LOGS, "--json").out)
    assert len(data["files"]) == len(list(LOGS.rglob("*.*")))
    assert {d["pattern"] for d in data["diagnoses"]} >= {"ld-libascend-hal", "mindie-builder", "no-module-tbe"}
    import io

    stdin = io.TextIOWrapper(io.BytesIO((LOGS / "ec0010_numpy2.log").read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    piped = json.loads(cli("explain", "-", "--json").out)
    assert piped["diagnoses"][0]["pattern"] == "numpy2-removed-alias"


def test_cli_explain_bad_inputs(cli, tmp_path):
    for content in (b"", b"\x00\x01\x02" * 100, b"[ERROR] RUNTIME(1,x):2025 ErrCode=5070"):
        path = tmp_path / "in.log"
        path.write_bytes(content)
        result = cli("explain", path, "--json")
        assert result.code == 0 and json.loads(result.out)["diagnoses"] == []
    missing = cli("explain", tmp_path / "nope.log")
    assert missing.code == 2 and "no such file" in missing.err and "Traceback" not in missing.err


def test_a_root_that_is_not_a_folder_is_a_user_error(cli, tmp_path):
    r = cli("doctor", "--root", tmp_path / "no-such-root", "--json")
    assert r.code == 2 and r.out == "" and "--root {} does not exist".format(tmp_path / "no-such-root") in r.err
    afile = tmp_path / "set_env.sh"
    afile.write_text("# not a folder\n")
    r = cli("doctor", "--root", afile)
    assert r.code == 2 and "is not a folder" in r.err


def test_save_never_overwrites_the_snapshot_it_compares_with(cli, tmp_path):
    snap = tmp_path / "train.json"
    cli("doctor", "--root", tmp_path, "--save", snap)
    before = snap.read_text()
    r = cli("doctor", "--root", tmp_path, "--against", snap, "--save", snap)
    assert r.code == 2 and "would overwrite the input" in r.err and snap.read_text() == before
