"""acl.util: host pointer helpers (fake). Each call is counted: the backend should need none of them."""
from __future__ import annotations

import ctypes

import numpy as np

from ._device import DEVICE

_kept = []  # pyACL keeps the bytes alive behind the pointer; so does the fake


def bytes_to_ptr(data: bytes) -> int:
    DEVICE.stats["bytes_to_ptr"] += 1
    buf = ctypes.create_string_buffer(bytes(data), len(data))
    _kept.append(buf)
    return ctypes.addressof(buf)


def ptr_to_bytes(ptr: int, size: int) -> bytes:
    DEVICE.stats["ptr_to_bytes"] += 1
    return ctypes.string_at(ptr, size)


def numpy_to_ptr(array: np.ndarray) -> int:
    DEVICE.stats["numpy_to_ptr"] += 1
    return array.ctypes.data
