"""The chip table (data/chips.json) against evidence from outside it: real npu-smi outputs, the field report,
and the values the Huawei documentation states (docs/reference.md), written out here."""
from __future__ import annotations

from pathlib import Path

import pytest

from omdeploy import chips
from omdeploy.ascend.npusmi import parse_npu_smi

NPU_SMI = Path(__file__).resolve().parent / "fixtures" / "logs" / "npu-smi"


def _npu_smi(name):
    return parse_npu_smi((NPU_SMI / name).read_text(encoding="utf-8"))


# ---- device memory: every row is the total of a real npu-smi output --------------------------------

@pytest.mark.parametrize("fixture", sorted(p.name for p in NPU_SMI.glob("*.txt")))
def test_memory_is_the_npu_smi_total_of_a_real_box(fixture):
    info = _npu_smi(fixture)
    for chip in info.chips:
        assert chips.memory_mb(chip.soc_version)[0] == chip.memory_total_mb, (fixture, chip.soc_version)


def test_every_memory_row_has_a_real_npu_smi_output():
    seen = {chip.soc_version for p in NPU_SMI.glob("*.txt") for chip in _npu_smi(p.name).chips}
    assert set(chips.table()["memory_mb"]) == seen
    assert all(chips.memory_mb(soc)[1].strip() for soc in seen)
    assert chips.memory_mb("Ascend999") is None


# ---- defaults --------------------------------------------------------------------------------------

def test_the_default_chip_is_the_field_reports_box():
    """The field report's box is an Atlas 300I Pro: npu-smi names its chip 310P3 (soc_version Ascend310P3)."""
    assert _npu_smi("seed_310p3.txt").soc_versions() == [chips.DEFAULT_SOC] == ["Ascend310P3"]


def test_the_default_cann_is_the_field_reports_toolkit():
    """The field report converts with CANN 8.0.0 (the 8.0 release line)."""
    assert chips.DEFAULT_CANN == "8.0"


# ---- soc_version names -----------------------------------------------------------------------------

# ATC --soc_version values named by the ATC option reference and seen in the field [atc-options]
DOCUMENTED_SOCS = {
    "Ascend310", "Ascend310P1", "Ascend310P3", "Ascend310P5", "Ascend310P7",
    "Ascend310B1", "Ascend310B2", "Ascend310B3", "Ascend310B4",
    "Ascend910A", "Ascend910B", "Ascend910ProA", "Ascend910ProB",
    "Ascend910B1", "Ascend910B2", "Ascend910B2C", "Ascend910B3", "Ascend910B4",
    "Ascend910_9361", "Ascend910_9362", "Ascend910_9372", "Ascend910_9381", "Ascend910_9382",
    "Ascend910_9391", "Ascend910_9392",
}


def test_soc_names_are_the_documented_ones_plus_the_legacy_910():
    assert set(chips.SOC_VERSIONS) - set(chips.LEGACY_SOC_VERSIONS) == DOCUMENTED_SOCS
    assert chips.LEGACY_SOC_VERSIONS == ("Ascend910",) and chips.is_legacy("Ascend910")
    assert "Ascend910A" in chips.legacy_note("Ascend910")
    assert not chips.is_legacy("Ascend310P1") and chips.legacy_note("Ascend310P3") is None


def test_every_soc_of_a_real_npu_smi_output_is_a_known_name():
    for p in NPU_SMI.glob("*.txt"):
        assert set(_npu_smi(p.name).soc_versions()) <= set(chips.SOC_VERSIONS), p.name


def test_spec_and_atc_take_the_chip_tables_names():
    from omdeploy.ascend import atc
    from omdeploy.spec import SOC_VERSIONS, TargetSpec

    assert SOC_VERSIONS is chips.SOC_VERSIONS and atc.ALLOWED_VALUES["soc_version"] is chips.SOC_VERSIONS
    assert TargetSpec().soc_version == chips.DEFAULT_SOC


# ---- per-chip facts, against the values the documentation states ------------------------------------

def test_true_dynamic_shape_is_refused_on_310_and_310b_only():
    """ATC --input_shape: ranges / a bare -1 without gears are not supported on Atlas 200/300 (310) and 310B."""
    refused = ["Ascend310", "Ascend310B1", "Ascend310B2", "Ascend310B3", "Ascend310B4"]
    assert [s for s in chips.SOC_VERSIONS if not chips.takes_dynamic_shape(s)] == refused


@pytest.mark.parametrize("soc, side", [
    ("Ascend310", 8192), ("Ascend310P3", 8192), ("Ascend910A", 8192), ("Ascend910", 8192),
    ("Ascend310B4", 16384), ("Ascend910B2", 16384), ("Ascend910B4", 16384), ("Ascend910_9391", 16384),
    ("Ascend999", 8192), (None, 8192),
])
def test_jpegd_size_limit_per_chip(soc, side):
    """DVPP JPEGD: 32x32 to 8192x8192, 16384x16384 on 310B and the Atlas A2/A3 chips [dvpp-jpegd]."""
    assert chips.jpegd_max_side(soc) == side


def test_overflow_modes_per_chip():
    """aclrtSetDeviceSatMode [acl-overflow-mode]: Atlas inference (310, 310P, 310B) and training (910A) chips
    saturate only; Atlas A2/A3 (910B, 910_93) default to inf/NaN and can switch to saturation."""
    from omdeploy.ascend.precision import overflow_mode

    for soc in ("Ascend310", "Ascend310P3", "Ascend310B4", "Ascend910A", "Ascend910"):
        assert overflow_mode(soc) == "saturation"
        with pytest.raises(Exception, match="not available"):
            overflow_mode(soc, "inf_nan")
    for soc in ("Ascend910B4", "Ascend910_9391"):
        assert overflow_mode(soc) == "inf_nan" and overflow_mode(soc, "saturation") == "saturation"


def test_the_default_chip_and_cann_are_spelled_only_in_the_chip_table():
    """Issue 12's grep: the default soc and CANN live in data/chips.json; no Python file spells them."""
    from pathlib import Path

    import omdeploy
    from omdeploy.chips import DEFAULT_CANN, DEFAULT_SOC

    package = Path(omdeploy.__file__).parent
    spelled = [str(p.relative_to(package)) for p in package.rglob("*.py")
               if DEFAULT_SOC in p.read_text(encoding="utf-8") or '"{}"'.format(DEFAULT_CANN) in p.read_text(encoding="utf-8")]
    assert spelled == []
    assert DEFAULT_SOC in (package / "data" / "chips.json").read_text(encoding="utf-8")
