"""JSON for reports: numpy scalars and arrays, dtypes, paths and records with to_dict() serialise as plain data."""
from __future__ import annotations

from pathlib import PurePath
from typing import Any

import numpy as np


def json_default(obj: Any) -> Any:
    """`default=` for json.dumps."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.dtype):
        return obj.name
    if isinstance(obj, PurePath):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError("not JSON serialisable: {}".format(type(obj).__name__))
