"""acl.rt: devices, contexts, streams, memory (fake)."""
from __future__ import annotations

from ._device import (DEVICE, INVALID_HANDLE, OK, RT_CONTEXT_NULL, RT_INVALID_DEVICEID, UNINITIALIZE)

ACL_HOST = 1


def set_device(device_id: int) -> int:
    if not DEVICE.initialised:
        return UNINITIALIZE
    if not 0 <= device_id < DEVICE.device_count:
        return RT_INVALID_DEVICEID
    DEVICE.devices_set[device_id] = DEVICE.devices_set.get(device_id, 0) + 1
    return OK


def reset_device(device_id: int) -> int:
    if DEVICE.devices_set.get(device_id, 0) <= 0:
        return RT_INVALID_DEVICEID
    DEVICE.devices_set[device_id] -= 1
    return OK


def create_context(device_id: int):
    if DEVICE.devices_set.get(device_id, 0) <= 0:
        return 0, RT_INVALID_DEVICEID
    context = DEVICE.handle()
    DEVICE.contexts[context] = device_id
    DEVICE.current.context = context  # a new context becomes current on the creating thread
    return context, OK


def set_context(context: int) -> int:
    if context not in DEVICE.contexts:
        return INVALID_HANDLE
    DEVICE.current.context = context
    DEVICE.stats["set_context"] += 1
    return OK


def get_context():
    context = DEVICE.context_here()
    return (context, OK) if context in DEVICE.contexts else (0, RT_CONTEXT_NULL)


def destroy_context(context: int) -> int:
    if DEVICE.contexts.pop(context, None) is None:
        return INVALID_HANDLE
    if DEVICE.context_here() == context:
        DEVICE.current.context = None
    return OK


def get_run_mode():
    return ACL_HOST, OK


def malloc(size: int, policy: int):
    with DEVICE.lock:
        return DEVICE.malloc(size, policy)


def free(ptr: int) -> int:
    with DEVICE.lock:
        return DEVICE.free(ptr)


def malloc_host(size: int):
    with DEVICE.lock:
        return DEVICE.malloc_host(size)


def free_host(ptr: int) -> int:
    with DEVICE.lock:
        return DEVICE.free_host(ptr)


def memcpy(dst: int, dst_max: int, src: int, count: int, kind: int) -> int:
    with DEVICE.lock:
        return DEVICE.memcpy(dst, dst_max, src, count, kind)
