"""CANN install discovery on fixture trees laid out like real installs (tests/fixtures/cann/README.md)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from omdeploy.ascend.cann import parse_key_values, parse_version_cfg, scan

TREES = Path(__file__).resolve().parents[1] / "fixtures" / "cann"


def versions(result, kind):
    return sorted((c.version, c.arch, c.active) for c in result.of_kind(kind))


def checks(result, severity="error"):
    return [f.rule for f in result.findings if f.severity == severity]


def test_800_layout_reads_every_part_and_agrees():
    result = scan([TREES / "v800_aarch64" / "Ascend"])
    assert versions(result, "toolkit") == [("8.0.0", "aarch64", True)]  # the 8.0 -> 8.0.0 link is not a 2nd
    assert versions(result, "kernels") == [("8.0.0", None, True)]
    assert versions(result, "nnrt") == [("8.0.0", "aarch64", True)]
    assert versions(result, "driver") == [("24.1.0", None, True)]
    toolkit = result.toolkit
    assert toolkit.inner_version == "V100R001C20SPC001B251"
    assert toolkit.source.endswith("ascend-toolkit/8.0.0/aarch64-linux/ascend_toolkit_install.info")
    assert result.of_kind("kernels")[0].inner_version == "7.6.0.1.220"
    assert result.findings == []
    assert result.toolkit_home.endswith("Ascend/ascend-toolkit/latest")
    assert result.set_env_script.endswith("Ascend/ascend-toolkit/set_env.sh")


def test_seed_mixed_install_is_a_version_mismatch_error():
    result = scan([TREES / "mixed_seed" / "Ascend"])
    assert versions(result, "toolkit") == [("8.0.0", "aarch64", True)]
    assert versions(result, "kernels") == [("8.1.RC3", None, False)]
    assert versions(result, "nnrt") == [("8.1.RC1", "aarch64", True)]
    mismatch = [f for f in result.findings if f.rule == "cann.versions"]
    assert len(mismatch) == 1 and mismatch[0].severity == "error"
    message = mismatch[0].message
    assert "toolkit 8.0.0" in message and "kernels 8.1.RC3" in message and "nnrt 8.1.RC1" in message
    assert "507011" in message and "500002" in message
    assert "8.0.0" in mismatch[0].fix


def test_850_layout_with_cann_link_and_ops_package():
    result = scan([TREES / "v850_x86" / "Ascend"])
    assert versions(result, "toolkit") == [("8.5.0", "x86_64", True)]  # ascend-toolkit/latest points here too
    assert versions(result, "ops") == [("8.5.0", "x86_64", True)]
    assert result.toolkit_home.endswith("Ascend/cann")
    assert result.set_env_script.endswith("Ascend/cann/set_env.sh")
    assert checks(result) == [] and checks(result, "warning") == []


def test_user_install_on_the_training_box():
    result = scan([TREES / "v800_x86_user" / "Ascend"])
    assert versions(result, "toolkit") == [("8.0.0", "x86_64", True)]
    assert result.driver is None
    assert result.findings == []


def test_no_install_is_one_error_with_the_fix(tmp_path):
    result = scan([tmp_path / "nothing-here"])
    assert result.components == [] and checks(result) == ["cann.found"]
    assert "set_env.sh" in result.findings[0].fix


def test_default_roots_follow_the_environment(tmp_path):
    home = tmp_path / "home"
    shutil.copytree(str(TREES / "v800_x86_user" / "Ascend"), str(home / "Ascend"), symlinks=True)
    result = scan(env={"HOME": str(home)})
    assert result.toolkit.version == "8.0.0"
    other = tmp_path / "opt"
    shutil.copytree(str(TREES / "v850_x86" / "Ascend"), str(other / "Ascend"), symlinks=True)
    result = scan(env={"HOME": str(tmp_path / "nobody"), "ASCEND_TOOLKIT_HOME": str(other / "Ascend" / "cann")})
    assert result.toolkit.version == "8.5.0"


def test_driver_outside_the_toolkit_compatible_list_is_a_warning(tmp_path):
    root = tmp_path / "Ascend"
    shutil.copytree(str(TREES / "v800_aarch64" / "Ascend"), str(root), symlinks=True)
    info = root / "driver" / "version.info"
    info.write_text(info.read_text().replace("V100R001C19SPC002B226", "V100R001C13SPC001B101"))
    result = scan([root])
    assert checks(result, "warning") == ["cann.driver"]


@pytest.mark.parametrize("damage", ["empty", "binary", "truncated", "missing", "dangling-latest"])
def test_damaged_installs_give_findings_not_crashes(tmp_path, damage):
    root = tmp_path / "Ascend"
    shutil.copytree(str(TREES / "v800_aarch64" / "Ascend"), str(root), symlinks=True)
    info = root / "ascend-toolkit" / "8.0.0" / "aarch64-linux" / "ascend_toolkit_install.info"
    if damage == "empty":
        info.write_text("")
    elif damage == "binary":
        info.write_bytes(b"\x7fELF\x00\x01\x02" * 50)
    elif damage == "truncated":
        info.write_text("package_name=Ascend-cann-toolkit\nvers")
    elif damage == "missing":
        info.unlink()
    else:
        (root / "ascend-toolkit" / "latest").unlink()
        (root / "ascend-toolkit" / "latest").symlink_to("9.9.9")
    for f in (root / "driver" / "version.info", root / "nnrt" / "8.0.0" / "aarch64-linux" / "ascend_nnrt_install.info"):
        f.write_bytes(b"\x00" * 10 if damage == "binary" else b"")
    result = scan([root])
    assert result.findings, "damage must be reported"
    assert all(f.message and f.severity in ("error", "warning", "info") for f in result.findings)
    if damage in ("empty", "binary", "truncated", "missing"):
        # the version still comes from version.cfg, with a warning that the install is incomplete
        assert result.toolkit.version == "8.0.0" and result.toolkit.source.endswith("version.cfg")
    if damage == "dangling-latest":
        assert any("does not exist" in f.message for f in result.findings)


def test_key_value_and_version_cfg_parsers():
    values = parse_key_values("# c\nVersion=24.1.0\nversion_dir=8.1.RC3\nrequired=\">=7.6, <=8.3\"\nno equals\n")
    assert values == {"version": "24.1.0", "version_dir": "8.1.RC3", "required": ">=7.6, <=8.3"}
    cfg = parse_version_cfg("# version: 1.0\nruntime_running_version=[7.6.0.1.220:8.0.0]\n"
                            "toolkit_running_version=[7.7.0.1.100:8.1.RC1]\n")
    assert cfg == {"runtime": ("7.6.0.1.220", "8.0.0"), "toolkit": ("7.7.0.1.100", "8.1.RC1")}
    assert parse_version_cfg("") == {} and parse_key_values("") == {}
