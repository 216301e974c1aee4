"""The chip table (data/chips.json), read once: the default soc and CANN, the soc_version names ATC takes
(valid and legacy), and the per-chip facts: device memory, true dynamic shape, JPEGD size limit, overflow mode.

Standard library only: spec.py, ascend/atc.py, the simulator and the checks all ask this module.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

_TABLE = Path(__file__).with_name("data") / "chips.json"


@functools.lru_cache(maxsize=None)
def table() -> Dict[str, Any]:
    return json.loads(_TABLE.read_text(encoding="utf-8"))


DEFAULT_SOC: str = table()["default_soc"]
DEFAULT_CANN: str = table()["default_cann"]
# how a soc_version is named, for hints and help (the default chip as the example)
SOC_NAME_RULE = "'Ascend' + the Name column of `npu-smi info` on the box ({} -> {})".format(
    DEFAULT_SOC[len("Ascend"):], DEFAULT_SOC)

# every name ATC takes for --soc_version; the legacy ones (e.g. Ascend910) last
LEGACY_SOC_VERSIONS: Tuple[str, ...] = tuple(table()["soc_versions"]["legacy"])
SOC_VERSIONS: Tuple[str, ...] = tuple(table()["soc_versions"]["valid"]) + LEGACY_SOC_VERSIONS

# socs that take no true dynamic shape (ranges / bare -1 without gears)
NO_DYNAMIC_SHAPE_SOCS = re.compile(table()["no_dynamic_shape"]["pattern"])


def is_legacy(soc: str) -> bool:
    return soc in LEGACY_SOC_VERSIONS


def legacy_note(soc: str) -> Optional[str]:
    """Why a legacy soc_version name is legacy (and what replaced it), or None for a current name."""
    return table()["soc_versions"]["legacy"].get(soc)


def memory_mb(soc: str) -> Optional[Tuple[int, str]]:
    """(device memory in MB, its source) of a chip, or None when the table has no figure for it."""
    row = table()["memory_mb"].get(soc)
    return None if row is None else (int(row["mb"]), str(row["source"]))


def takes_dynamic_shape(soc: str) -> bool:
    """Whether ATC takes true dynamic shape (ranges, bare -1 without gears) for this chip."""
    return not NO_DYNAMIC_SHAPE_SOCS.match(soc)


def jpegd_max_side(soc: Optional[str]) -> int:
    """The largest width/height the DVPP JPEG decoder takes on this chip (the longest matching prefix wins)."""
    limits = table()["jpegd_max_side"]
    matches = [p for p in limits["by_prefix"] if soc and soc.startswith(p)]
    return int(limits["by_prefix"][max(matches, key=len)] if matches else limits["default"])


def overflow_modes() -> Tuple[Tuple[str, str, Tuple[str, ...]], ...]:
    """(soc prefix, default float overflow mode, modes the chip supports) rows; the first matching prefix wins."""
    return tuple((p, d, tuple(m)) for p, d, m in table()["overflow_modes"]["rows"])


__all__ = ["DEFAULT_SOC", "DEFAULT_CANN", "SOC_VERSIONS", "LEGACY_SOC_VERSIONS", "NO_DYNAMIC_SHAPE_SOCS",
           "is_legacy", "legacy_note", "memory_mb", "takes_dynamic_shape", "jpegd_max_side", "overflow_modes",
           "table"]
