"""npu-smi info parsing: the seed's 310P3 output verbatim and the 910B, 310B and 310 layouts."""
from __future__ import annotations

from pathlib import Path

import pytest

from omdeploy.ascend import npusmi
from omdeploy.ascend.npusmi import parse_npu_smi

OUTPUTS = Path(__file__).resolve().parents[1] / "fixtures" / "logs" / "npu-smi"


def parse(name):
    return parse_npu_smi((OUTPUTS / name).read_text(encoding="utf-8"))


def test_seed_output_is_one_310p3_with_21527_mb():
    info = parse("seed_310p3.txt")
    assert info.version == "23.0.0"
    assert len(info.chips) == 1  # the process table that follows is not read as chips
    chip = info.chips[0]
    assert (chip.npu_id, chip.chip_id, chip.device_id) == (24, 0, 0)
    assert chip.name == "310P3" and chip.soc_version == "Ascend310P3"
    assert chip.health == "OK" and chip.bus_id == "0000:04:00.0"
    assert (chip.memory_used_mb, chip.memory_total_mb) == (1832, 21527)
    assert chip.aicore_percent == 0.0 and chip.temperature_c == 29.0 and chip.power_w is None
    assert info.soc_versions() == ["Ascend310P3"] and info.warnings == []


def test_910b_uses_hbm_columns_and_skips_the_process_rows():
    info = parse("910b4_two_npus.txt")
    assert [(c.npu_id, c.chip_id) for c in info.chips] == [(4, 0), (5, 0)]
    assert [(c.memory_used_mb, c.memory_total_mb) for c in info.chips] == [(29096, 32768), (3385, 32768)]
    assert [c.aicore_percent for c in info.chips] == [0.0, 12.0]
    assert info.chips[0].power_w == 89.2 and info.chips[0].device_id is None
    assert info.soc_versions() == ["Ascend910B4"]


def test_310b_alarm_health_and_shared_ddr():
    chip = parse("310b4_orangepi.txt").chips[0]
    assert chip.soc_version == "Ascend310B4" and chip.health == "Alarm"
    assert (chip.memory_used_mb, chip.memory_total_mb) == (3628, 15609) and chip.bus_id is None


def test_310_card_with_four_chips():
    info = parse("310_four_chips.txt")
    assert [(c.npu_id, c.chip_id, c.device_id) for c in info.chips] == [(0, i, i) for i in range(4)]
    assert all(c.memory_total_mb == 8192 for c in info.chips)
    assert info.chips[1].aicore_percent == 3.0
    assert info.soc_versions() == ["Ascend310"]


@pytest.mark.parametrize("text", ["", "\x00\x01\x02binary", "npu-smi: command not found\n",
                                  "| 0       0                     | 0000:04:00.0    | 0   1832 / 21527 |\n"])
def test_bad_output_gives_no_chips_and_no_crash(text):
    info = parse_npu_smi(text)
    assert info.chips == []
    assert bool(info.warnings) == bool(text.strip())


def test_truncated_output_keeps_complete_chips():
    text = (OUTPUTS / "310_four_chips.txt").read_text(encoding="utf-8")
    cut = text[:text.index("| 2       2")]
    assert len(parse_npu_smi(cut).chips) == 2


def test_run_npu_smi_is_none_without_the_tool(monkeypatch):
    monkeypatch.setattr(npusmi.shutil, "which", lambda name: None)
    assert npusmi.run_npu_smi() is None
