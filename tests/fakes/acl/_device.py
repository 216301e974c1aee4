"""State of the fake NPU: initialisation, contexts, device memory, data buffers, datasets, models.

Every call checks what the real runtime checks (docs/reference.md [acl-codes], [pyacl]) and answers with the
real error code, and every allocation and copy is counted so tests can assert on them.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import threading
from collections import Counter
from typing import Dict, List, Optional

import numpy as np

import fake_om

OK = 0
INVALID_PARAM = 100000
UNINITIALIZE = 100001
REPEAT_INITIALIZE = 100002
INVALID_FILE = 100003
INVALID_MODEL_ID = 100011
MODEL_INPUT_NOT_MATCH = 100017
MODEL_OUTPUT_NOT_MATCH = 100018
MODEL_NOT_DYNAMIC = 100019
RELATIVE_RESOURCE_NOT_CLEARED = 148051
RT_PARAM_INVALID = 107000
RT_INVALID_DEVICEID = 107001
RT_CONTEXT_NULL = 107002
INVALID_HANDLE = 107017
RT_MEMORY_ALLOCATION = 207001
MODEL_DATA_SIZE_INVALID = 145006
DYNAMIC_BATCH_SIZE_INVALID = 145013

DEVICE_MS_ENV = "OMDEPLOY_FAKE_ACL_DEVICE_MS"  # read only by this fake: the stand-in device's latency
DEVICE_BASE = 1 << 60  # fake device addresses live far above any host address
MEMCPY_H2H, MEMCPY_H2D, MEMCPY_D2H, MEMCPY_D2D = 0, 1, 2, 3


class Allocation:
    def __init__(self, ptr: int, size: int, context: int):
        self.ptr, self.size, self.context = ptr, size, context
        self.memory = np.zeros(size, np.uint8)

    def host_address(self, ptr: int) -> int:
        return self.memory.ctypes.data + (ptr - self.ptr)


class Dataset:
    def __init__(self):
        self.buffers: List[int] = []


class LoadedModel:
    def __init__(self, model: fake_om.FakeModel, context: int):
        self.model, self.context = model, context
        self.cur_output_dims: Optional[List[List[int]]] = None


class FakeDevice:
    def __init__(self, device_count: int = 2, memory_bytes: int = 8 << 30):
        self.device_count, self.memory_bytes = device_count, memory_bytes
        self.stats: Counter = Counter()
        self.initialised = False
        self.finalized = False
        self.devices_set: Dict[int, int] = {}  # device id -> set_device count
        self.contexts: Dict[int, int] = {}  # context -> device id
        self.current = threading.local()
        self.allocations: Dict[int, Allocation] = {}
        self.host_allocations: Dict[int, np.ndarray] = {}
        self.data_buffers: Dict[int, tuple] = {}  # handle -> (ptr, size)
        self.datasets: Dict[int, Dataset] = {}
        self.models: Dict[int, LoadedModel] = {}
        self.descs: Dict[int, Optional[int]] = {}  # desc -> model id it describes
        self._ids = itertools.count(1)
        self._next_device_ptr = DEVICE_BASE
        self.lock = threading.RLock()
        self.streams: Dict[int, "Stream"] = {}
        self.events: Dict[int, "Event"] = {}
        # the device stand-in: execute takes this long, sleeping (no CPU, GIL released), computing nothing
        self.device_seconds = float(os.environ.get(DEVICE_MS_ENV, "0") or 0) / 1000.0
        self.compute_unit = threading.Lock()  # one NPU: executes of every stream take turns on it

    # ---- checks -----------------------------------------------------------------------------------
    def handle(self) -> int:
        return next(self._ids) * 16

    def context_here(self) -> Optional[int]:
        return getattr(self.current, "context", None)

    def ready(self) -> int:
        """0 when the calling thread may touch the device, else the error the runtime gives."""
        if not self.initialised:
            return UNINITIALIZE
        if self.context_here() not in self.contexts:
            return RT_CONTEXT_NULL
        return OK

    def find(self, ptr: int, count: int) -> Optional[Allocation]:
        """The live device allocation holding [ptr, ptr + count), or None (unknown or freed memory)."""
        for alloc in self.allocations.values():
            if alloc.ptr <= ptr and ptr + count <= alloc.ptr + alloc.size:
                return alloc
        return None

    def is_device(self, ptr: int) -> bool:
        return ptr >= DEVICE_BASE

    def leaks(self) -> List[str]:
        leaks = ["device memory {:#x} ({} bytes)".format(a.ptr, a.size) for a in self.allocations.values()]
        leaks += ["host memory {:#x}".format(p) for p in self.host_allocations]
        leaks += ["data buffer {}".format(h) for h in self.data_buffers]
        leaks += ["dataset {}".format(h) for h in self.datasets]
        leaks += ["model {}".format(m) for m in self.models]
        leaks += ["model desc {}".format(d) for d in self.descs]
        leaks += ["context {}".format(c) for c in self.contexts]
        leaks += ["stream {}".format(s) for s in self.streams]
        leaks += ["event {}".format(e) for e in self.events]
        return leaks

    # ---- memory -----------------------------------------------------------------------------------
    def malloc(self, size: int, policy: int):
        ready = self.ready()
        if ready:
            return 0, ready
        if not isinstance(size, int) or size <= 0 or policy not in (0, 1, 2):
            return 0, INVALID_PARAM
        used = sum(a.size for a in self.allocations.values())
        if used + size > self.memory_bytes:
            return 0, RT_MEMORY_ALLOCATION
        ptr = self._next_device_ptr
        self._next_device_ptr += (size + 511) // 512 * 512 + 512
        self.allocations[ptr] = Allocation(ptr, size, self.context_here())
        self.stats["malloc"] += 1
        return ptr, OK

    def free(self, ptr: int) -> int:
        if ptr not in self.allocations:
            return RT_PARAM_INVALID  # never allocated, or freed already
        del self.allocations[ptr]
        self.stats["free"] += 1
        return OK

    def malloc_host(self, size: int):
        if not self.initialised:
            return 0, UNINITIALIZE
        memory = np.zeros(size, np.uint8)
        self.host_allocations[memory.ctypes.data] = memory
        self.stats["malloc_host"] += 1
        return memory.ctypes.data, OK

    def free_host(self, ptr: int) -> int:
        if self.host_allocations.pop(ptr, None) is None:
            return RT_PARAM_INVALID
        return OK

    def memcpy(self, dst: int, dst_max: int, src: int, count: int, kind: int, counted: str = "") -> int:
        ready = self.ready()
        if ready:
            return ready
        if count > dst_max or count < 0 or kind not in (0, 1, 2, 3):
            return INVALID_PARAM
        dst_device, src_device = kind in (MEMCPY_H2D, MEMCPY_D2D), kind in (MEMCPY_D2H, MEMCPY_D2D)
        if self.is_device(dst) != dst_device or self.is_device(src) != src_device or not dst or not src:
            return INVALID_PARAM  # a host pointer where the kind says device, or the reverse
        dst_alloc = self.find(dst, count) if dst_device else None
        src_alloc = self.find(src, count) if src_device else None
        if (dst_device and dst_alloc is None) or (src_device and src_alloc is None):
            return RT_PARAM_INVALID  # unknown, freed, or too small device memory
        dst_addr = dst_alloc.host_address(dst) if dst_alloc else dst
        src_addr = src_alloc.host_address(src) if src_alloc else src
        ctypes.memmove(dst_addr, src_addr, count)
        self.stats[("memcpy_h2h", "memcpy_h2d", "memcpy_d2h", "memcpy_d2d")[kind] + counted] += 1
        return OK

    def read(self, ptr: int, size: int) -> Optional[np.ndarray]:
        alloc = self.find(ptr, size)
        if alloc is None:
            return None
        start = ptr - alloc.ptr
        return alloc.memory[start:start + size]


class Event:
    """acl.rt events: recorded on a stream, done when the stream reaches them."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ret = OK
        self.done.set()  # a fresh event counts as complete, as aclrtSynchronizeEvent on an unrecorded one returns


class Stream:
    """A stream: its tasks run in order on a thread of their own, as the device runs them beside the host."""

    def __init__(self, context: int) -> None:
        import queue

        self.context = context
        self.tasks: "queue.Queue" = queue.Queue()
        self.failed = OK  # the first error a task gave; synchronize_stream returns it
        self.idle = threading.Event()
        self.idle.set()
        self.pending = 0
        self._count = threading.Lock()
        self.thread = threading.Thread(target=self._work, name="fake-acl-stream", daemon=True)
        self.thread.start()

    def submit(self, task) -> None:
        with self._count:
            self.pending += 1
            self.idle.clear()
        self.tasks.put(task)

    def _work(self) -> None:
        DEVICE.current.context = self.context
        while True:
            task = self.tasks.get()
            if task is None:
                return
            ret = task()
            if ret and not self.failed:
                self.failed = ret
            with self._count:
                self.pending -= 1
                if self.pending == 0:
                    self.idle.set()

    def stop(self) -> None:
        self.tasks.put(None)
        self.thread.join()


DEVICE = FakeDevice()
