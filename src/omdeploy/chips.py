"""The chip table (data/chips.json), read once: the default soc and CANN, and device memory per chip."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

_TABLE = Path(__file__).with_name("data") / "chips.json"


@functools.lru_cache(maxsize=None)
def table() -> Dict[str, Any]:
    return json.loads(_TABLE.read_text(encoding="utf-8"))


DEFAULT_SOC: str = table()["default_soc"]
DEFAULT_CANN: str = table()["default_cann"]


def memory_mb(soc: str) -> Optional[Tuple[int, str]]:
    """(device memory in MB, its source) of a chip, or None when the table has no figure for it."""
    row = table()["memory_mb"].get(soc)
    return None if row is None else (int(row["mb"]), str(row["source"]))


__all__ = ["DEFAULT_SOC", "DEFAULT_CANN", "memory_mb", "table"]
