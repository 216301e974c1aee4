"""The set_env.sh and install-layout tables (data/environment.json set_env, install_layout) against what the
CANN installation guide says set_env.sh exports and where CANN installs (docs/reference.md [cann-install])."""
from __future__ import annotations

import os
from pathlib import Path


from omdeploy.ascend import setenv
from omdeploy.ascend.cann import scan
from omdeploy.ascend.doctor import set_env_findings

TREES = Path(__file__).resolve().parents[1] / "fixtures" / "cann"
H, ROOT = "/opt/Ascend/ascend-toolkit/latest", "/opt/Ascend"


def test_apply_sets_what_the_reference_says_set_env_sh_exports():
    """`ascend-toolkit/set_env.sh` (7.x/8.0) with H the toolkit home [cann-install]: every variable, in order."""
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


def test_apply_sets_nothing_else():
    env: dict = {}
    setenv.apply(env, home=H, root=ROOT, arch="x86_64")
    assert sorted(env) == ["ASCEND_AICPU_PATH", "ASCEND_HOME_PATH", "ASCEND_OPP_PATH", "ASCEND_TOOLKIT_HOME",
                           "LD_LIBRARY_PATH", "PATH", "PYTHONPATH", "TOOLCHAIN_HOME"]


def test_the_install_roots_are_root_then_the_users_home():
    """CANN installs under /usr/local/Ascend as root and under $HOME/Ascend as a user [cann-install]."""
    from omdeploy.runtime import acl

    assert setenv.install_roots({"HOME": "/home/u"}) == [Path("/usr/local/Ascend"), Path("/home/u/Ascend")]
    assert acl.INSTALL_ROOTS == ("/usr/local/Ascend", "~/Ascend")


def test_home_to_root():
    """<= 8.3: home <root>/ascend-toolkit/latest (or /<ver>); 8.5+: home <root>/cann [cann-install]."""
    assert setenv.root_of_home(Path("/usr/local/Ascend/ascend-toolkit/latest")) == Path("/usr/local/Ascend")
    assert setenv.root_of_home(Path("/home/u/Ascend/ascend-toolkit/8.0.0")) == Path("/home/u/Ascend")
    assert setenv.root_of_home(Path("/usr/local/Ascend/cann")) == Path("/usr/local/Ascend")


def test_one_script_order_everywhere(tmp_path):
    """8.5+ installs <root>/cann/set_env.sh and may keep ascend-toolkit/ pointing there, so cann/ wins; then the
    <= 8.3 ascend-toolkit/set_env.sh; a runtime-only box has nnrt/set_env.sh [cann-install]."""
    from omdeploy.ascend.cann import scan
    from omdeploy.ascend.convert import _shell_set_env_scripts

    assert setenv.set_env_scripts() == ["cann/set_env.sh", "ascend-toolkit/set_env.sh", "nnrt/set_env.sh"]
    assert _shell_set_env_scripts().split() == [
        '"/usr/local/Ascend/cann/set_env.sh"', '"/usr/local/Ascend/ascend-toolkit/set_env.sh"',
        '"$HOME/Ascend/cann/set_env.sh"', '"$HOME/Ascend/ascend-toolkit/set_env.sh"']
    # the doctor's scan names the same script as find_script when both exist
    root = tmp_path / "Ascend"
    info = root / "ascend-toolkit" / "8.0.0" / "x86_64-linux" / "ascend_toolkit_install.info"
    info.parent.mkdir(parents=True)
    info.write_text("package_name=Ascend-cann-toolkit\nversion=8.0.0\narch=x86_64\nos=linux\n")
    for script in ("cann/set_env.sh", "ascend-toolkit/set_env.sh"):
        (root / script).parent.mkdir(parents=True, exist_ok=True)
        (root / script).write_text("")
    assert setenv.find_script([str(root)]) == root / "cann" / "set_env.sh"
    assert scan([root]).set_env_script == str(root / "cann" / "set_env.sh")


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
