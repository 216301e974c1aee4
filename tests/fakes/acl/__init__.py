"""A strict fake of pyACL (the `acl` module of CANN), for tests only.

It is importable only when a test puts tests/fakes on sys.path (see tests/fakes/__init__.py). It keeps the
real return conventions ((value, ret) tuples, `add_dataset_buffer` returning (dataset, ret), handles and
pointers as ints) and refuses misuse with the real error codes. `acl._device.DEVICE` holds the state and
the counters (`stats`, `leaks()`).
"""
from __future__ import annotations

from . import media, mdl, rt, util  # noqa: F401  (acl.rt, acl.mdl, acl.util, acl.media as in pyACL)
from ._device import DEVICE, INVALID_PARAM, OK, RELATIVE_RESOURCE_NOT_CLEARED, REPEAT_INITIALIZE, UNINITIALIZE

FAKE = True  # lets a test assert it is talking to the fake, never the real pyACL


def init(config_path: str = "") -> int:
    if DEVICE.initialised:
        return REPEAT_INITIALIZE
    DEVICE.initialised = True
    DEVICE.stats["init"] += 1
    return OK


def finalize() -> int:
    if not DEVICE.initialised:
        return UNINITIALIZE
    if DEVICE.leaks():
        DEVICE.stats["finalize_refused"] += 1
        return RELATIVE_RESOURCE_NOT_CLEARED
    DEVICE.initialised = False
    DEVICE.finalized = True
    DEVICE.stats["finalize"] += 1
    return OK


def create_data_buffer(ptr: int, size: int) -> int:
    """pyACL order is (ptr, size); returns the handle only, 0 on failure."""
    if not isinstance(ptr, int) or not isinstance(size, int) or size < 0:
        return 0
    handle = DEVICE.handle()
    DEVICE.data_buffers[handle] = (ptr, size)
    DEVICE.stats["create_data_buffer"] += 1
    return handle


def destroy_data_buffer(buffer: int) -> int:
    if DEVICE.data_buffers.pop(buffer, None) is None:
        return INVALID_PARAM
    return OK


def get_data_buffer_addr(buffer: int) -> int:
    return DEVICE.data_buffers.get(buffer, (0, 0))[0]


def get_data_buffer_size_v2(buffer: int) -> int:
    return DEVICE.data_buffers.get(buffer, (0, 0))[1]
