"""ONNX element types as numpy dtypes: onnx's own table (onnx.helper.tensor_dtype_to_np_dtype), asked in one
place so that sizes and feeds agree on every type onnx knows."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .._optional import require


def numpy_dtype(elem_type: int) -> Optional[np.dtype]:
    """The numpy dtype of ONNX TensorProto element type `elem_type`; None for UNDEFINED, STRING and
    the types onnx has no numpy equivalent for."""
    onnx = require("onnx", "reading ONNX element types")
    if elem_type in (0, 8):  # UNDEFINED, STRING
        return None
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        return None


def itemsize(elem_type: int, default: int = 4) -> int:
    """Bytes per element of ONNX element type `elem_type` (`default` when it has no fixed size)."""
    dtype = numpy_dtype(elem_type)
    return dtype.itemsize if dtype is not None else default
