"""The set_env.sh table (data/environment.json set_env, set_env_scripts): every row applied, checked, found."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from omdeploy.ascend import setenv
from omdeploy.ascend.cann import scan
from omdeploy.ascend.doctor import set_env_findings

TREES = Path(__file__).resolve().parents[1] / "fixtures" / "cann"
H, ROOT = "/opt/Ascend/ascend-toolkit/latest", "/opt/Ascend"


def test_apply_sets_what_the_reference_says_set_env_sh_exports():
    """reference/cann.md section 6, `ascend-toolkit/set_env.sh` (7.x/8.0) with H the toolkit home."""
    env = {"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/mine"}
    setenv.apply(env, home=H, root=ROOT, arch="aarch64")
    assert {k: env[k] for k in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH", "ASCEND_AICPU_PATH")} == dict.fromkeys(
        ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH", "ASCEND_AICPU_PATH"), H)
    assert (env["ASCEND_OPP_PATH"], env["TOOLCHAIN_HOME"]) == (H + "/opp", H + "/toolkit")
    assert env["LD_LIBRARY_PATH"].split(os.pathsep) == [
        ROOT + "/driver/lib64", ROOT + "/driver/lib64/common", ROOT + "/driver/lib64/driver", H + "/lib64",
        H + "/lib64/plugin/opskernel", H + "/lib64/plugin/nnengine",
        H + "/opp/built-in/op_impl/ai_core/tbe/op_tiling/lib/linux/aarch64", H + "/tools/aml/lib64",
        H + "/tools/aml/lib64/plugin", "/mine"]
    assert env["PYTHONPATH"].split(os.pathsep) == [H + "/python/site-packages", H + "/opp/built-in/op_impl/ai_core/tbe"]
    assert env["PATH"].split(os.pathsep) == [H + "/bin", H + "/compiler/ccec_compiler/bin",
                                             H + "/tools/ccec_compiler/bin", "/usr/bin"]


@pytest.mark.parametrize("row", setenv.rules()["set_env"], ids=lambda r: "/".join(r["vars"]) + "=" + r["expect"])
def test_each_set_env_row_is_applied(row):
    env: dict = {}
    setenv.apply(env, home=H, root=ROOT, arch="x86_64")
    value = row["expect"].format(home=H, root=ROOT, arch="x86_64")
    for var in row["vars"]:
        assert value == env[var] if row["how"] == "equals" else value in env[var].split(os.pathsep)


def test_an_applied_environment_passes_the_doctors_check():
    result = scan([TREES / "v800_aarch64" / "Ascend"])
    env = {"HOME": "/nonexistent"}
    assert set_env_findings(result, env)  # not sourced
    setenv.apply(env, home=result.toolkit_home, root=str(TREES / "v800_aarch64" / "Ascend"), arch="aarch64")
    assert set_env_findings(result, env) == []
    assert all(row["how"] in ("equals", "contains") for row in setenv.rules()["set_env"])
    assert all("{root}" not in row["expect"] and "{arch}" not in row["expect"] for row in setenv.checks())


def test_find_script_takes_the_roots_in_order_then_the_scripts_in_table_order(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for script in ("second/nnrt/set_env.sh", "second/ascend-toolkit/set_env.sh", "first/cann/set_env.sh",
                   "first/nnrt/set_env.sh"):
        (tmp_path / script).parent.mkdir(parents=True)
        (tmp_path / script).write_text("")
    assert setenv.find_script([str(first), str(second)]) == first / "cann" / "set_env.sh"
    assert setenv.find_script([str(second), str(first)]) == second / "ascend-toolkit" / "set_env.sh"
    assert setenv.find_script([str(tmp_path / "none")]) is None
