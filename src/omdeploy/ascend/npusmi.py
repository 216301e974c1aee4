"""Parse `npu-smi info` (310, 310B, 310P and 910B layouts; several NPUs and chips per card).

Each chip takes two table rows (docs/reference.md [cann-install]):
    | NPU-id  Name  | Health | Power  Temp  [Hugepages used / total]          |
    | Chip-id [Device-id] | Bus-Id | AICore%  mem_used / mem_total [hbm_used / hbm_total] |
A card with several chips repeats the pair (or repeats chip rows under one NPU row). The process table
that follows is ignored. soc_version for ATC is 'Ascend' + Name (chips.SOC_NAME_RULE).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

_NPU_CELL = re.compile(r"^(\d+)\s+(\w+)$")
_CHIP_CELL = re.compile(r"^(\d+)(?:\s+(\d+))?$")
_USAGE = re.compile(r"(\d+)\s*/\s*(\d+)")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_VERSION = re.compile(r"npu-smi\s+(\S+)")


@dataclass
class NpuChip:
    npu_id: int
    chip_id: int
    name: str  # the Name column, e.g. 310P3
    health: str
    memory_used_mb: Optional[int]
    memory_total_mb: Optional[int]
    aicore_percent: Optional[float]
    device_id: Optional[int] = None
    bus_id: Optional[str] = None
    power_w: Optional[float] = None
    temperature_c: Optional[float] = None

    @property
    def soc_version(self) -> str:
        return self.name if self.name.startswith("Ascend") else "Ascend" + self.name

    def to_dict(self) -> Dict[str, object]:
        data = asdict(self)
        data["soc_version"] = self.soc_version
        return data


@dataclass
class NpuSmiInfo:
    chips: List[NpuChip]
    version: Optional[str] = None  # of npu-smi itself (the driver's)
    warnings: Optional[List[str]] = None

    def soc_versions(self) -> List[str]:
        return sorted({c.soc_version for c in self.chips})

    def to_dict(self) -> Dict[str, object]:
        return {"version": self.version, "chips": [c.to_dict() for c in self.chips],
                "soc_versions": self.soc_versions(), "warnings": self.warnings or []}


def _number(text: str) -> Optional[float]:
    return float(text) if _NUMBER.match(text) else None


def _cells(line: str) -> List[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _chip(npu: Dict[str, Any], cells: List[str], match) -> NpuChip:
    usage_cell = cells[2] if len(cells) > 2 else ""
    first = usage_cell.split()[0] if usage_cell.split() else ""
    pairs = [(int(a), int(b)) for a, b in _USAGE.findall(usage_cell)]
    # 910B prints Memory-Usage (0 / 0) then HBM-Usage: use HBM when it is there and nonzero
    used, total = (pairs[-1] if len(pairs) > 1 and pairs[-1][1] > 0 else pairs[0]) if pairs else (None, None)
    bus = cells[1] if len(cells) > 1 and cells[1] not in ("", "NA") else None
    return NpuChip(npu_id=int(npu["id"]), chip_id=int(match.group(1)), name=str(npu["name"]),
                   health=str(npu["health"]), memory_used_mb=used, memory_total_mb=total,
                   aicore_percent=_number(first), device_id=int(match.group(2)) if match.group(2) else None,
                   bus_id=bus, power_w=npu["power"], temperature_c=npu["temp"])


def parse_npu_smi(text: str) -> NpuSmiInfo:
    """Chips found in `npu-smi info` output; lines that fit no layout are skipped, never fatal."""
    chips: List[NpuChip] = []
    warnings: List[str] = []
    version_match = _VERSION.search(text)
    npu: Optional[Dict[str, object]] = None
    block_start = True  # the first row after a +---+ / +===+ border is an NPU row, the rows under it chips
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("+"):
            block_start = True
            continue
        if not stripped.startswith("|"):
            continue
        if "Process id" in line or "Process name" in line:
            break  # the process table reuses the NPU/Chip columns
        cells = _cells(line)
        if len(cells) < 2:
            continue
        npu_match = _NPU_CELL.match(cells[0]) if block_start else None
        chip_match = _CHIP_CELL.match(cells[0])
        block_start = False
        if npu_match:
            readings = cells[2].split() if len(cells) > 2 else []
            npu = {"id": npu_match.group(1), "name": npu_match.group(2), "health": cells[1],
                   "power": _number(readings[0]) if readings else None,
                   "temp": _number(readings[1]) if len(readings) > 1 else None}
        elif chip_match and npu is not None:
            chips.append(_chip(npu, cells, chip_match))
    if not chips and text.strip():
        warnings.append("no NPU chip rows recognised in the npu-smi output")
    return NpuSmiInfo(chips, version_match.group(1) if version_match else None, warnings)


def run_npu_smi(timeout: float = 20.0) -> Optional[str]:
    """The output of `npu-smi info`, or None when npu-smi is not installed. Raises OSError/TimeoutExpired."""
    exe = shutil.which("npu-smi")
    if exe is None:
        return None
    done = subprocess.run([exe, "info"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return done.stdout.decode("utf-8", errors="replace")
