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


# ---- streams and events --------------------------------------------------------------------------
# pyACL: `stream, ret = acl.rt.create_stream()`, `ret = acl.rt.synchronize_stream(stream)`,
# `ret = acl.rt.destroy_stream(stream)` (https://hiascend.com/document/detail/zh/Atlas200IDKA2DeveloperKit/
# 23.0.RC2/Application%20Development%20Guide/aadgp/aclpythondevg_01_0074.html); `event, ret =
# acl.rt.create_event()`, `ret = acl.rt.record_event(event, stream)` (captures the tasks issued so far,
# https://hiascend.com/document/detail/zh/canncommercial/800/apiref/appdevgapi/aclpythondevg_01_0093.html),
# `ret = acl.rt.synchronize_event(event)` (https://www.hiascend.com/document/detail/en/canncommercial/800/
# apiref/appdevgapi/aclpythondevg_01_0102.html), `ret = acl.rt.destroy_event(event)`;
# `ret = acl.rt.memcpy_async(dst, dest_max, src, count, kind, stream)`.
def create_stream():
    from ._device import Stream

    with DEVICE.lock:
        ready = DEVICE.ready()
        if ready:
            return 0, ready
        stream = DEVICE.handle()
        DEVICE.streams[stream] = Stream(DEVICE.context_here())
        DEVICE.stats["create_stream"] += 1
        return stream, OK


def destroy_stream(stream: int) -> int:
    with DEVICE.lock:
        found = DEVICE.streams.pop(stream, None)
    if found is None:
        return INVALID_HANDLE
    found.idle.wait()
    found.stop()
    return OK


def synchronize_stream(stream: int) -> int:
    found = DEVICE.streams.get(stream)
    if found is None:
        return INVALID_HANDLE
    found.idle.wait()
    DEVICE.stats["synchronize_stream"] += 1
    ret, found.failed = found.failed, OK
    return ret


def create_event():
    from ._device import Event

    if DEVICE.ready():
        return 0, DEVICE.ready()
    event = DEVICE.handle()
    DEVICE.events[event] = Event()
    return event, OK


def record_event(event: int, stream: int) -> int:
    found, on = DEVICE.events.get(event), DEVICE.streams.get(stream)
    if found is None or on is None:
        return INVALID_HANDLE
    found.done.clear()

    def reached() -> int:
        found.ret = on.failed  # what went wrong before the event: its synchronize reports it
        found.done.set()
        return OK

    on.submit(reached)
    return OK


def synchronize_event(event: int) -> int:
    found = DEVICE.events.get(event)
    if found is None:
        return INVALID_HANDLE
    found.done.wait()
    DEVICE.stats["synchronize_event"] += 1
    return found.ret


def destroy_event(event: int) -> int:
    return OK if DEVICE.events.pop(event, None) is not None else INVALID_HANDLE


def memcpy_async(dst: int, dst_max: int, src: int, count: int, kind: int, stream: int) -> int:
    on = DEVICE.streams.get(stream)
    if on is None:
        return INVALID_HANDLE
    ready = DEVICE.ready()
    if ready:
        return ready

    def copy() -> int:
        with DEVICE.lock:
            return DEVICE.memcpy(dst, dst_max, src, count, kind, counted="_async")

    on.submit(copy)
    return OK
