"""The acl backend's pipelined mode: request k+1 is copied in while request k computes on the NPU.

    for outputs in session.run_many(batches):     # Session.run_many -> AclBackend.run_many -> here
        ...

`depth` sets of device buffers (set 0 is the backend's own) take turns on one stream. For each request the
host copies its inputs into a free set (one H2D per input, from the numpy array's own memory), queues
`acl.mdl.execute_async` and records the set's event; it copies a set's outputs back (D2H) only when it needs
that set again or the inputs run out, after `acl.rt.synchronize_event` on it. So while the NPU computes k,
the host copies k+1 in and k-1 out, and the caller (decoding the next image, post-processing the last one)
runs too. Results come back in input order.

One stream, not one per set: pyACL forbids running one model on several streams at once
(https://hiascend.com/document/detail/zh/canncommercial/601/inferapplicationdev/aclpythondevg/aclpythondevg_01_0122.html,
constraints of acl.mdl.execute_async); events let the host wait for one request without draining the stream
(https://hiascend.com/document/detail/zh/canncommercial/800/apiref/appdevgapi/aclpythondevg_01_0093.html).
Models with gears or dynamic outputs keep the synchronous path (a gear is set per dataset and the output
dims are read per model, after each execute). Written to the documented API and tested on the fake; not yet
run on hardware.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np

from ..errors import UserError
from .base import TensorInfo

DEFAULT_DEPTH = 2


@dataclass
class _Set:
    inputs: List[int]     # device pointers, one per model input
    outputs: List[int]    # device pointers, one per model output
    input_dataset: int
    output_dataset: int
    event: int = 0


def can_pipeline(backend: Any) -> bool:
    """Static models only: no gears, no output whose dims the device decides per run."""
    return backend.gears.mode is None and not any(t.info.is_dynamic for t in backend._outputs)


class AclPipeline:
    """The extra buffer sets, the stream and the events of one model; made once, freed by `close`."""

    def __init__(self, backend: Any, depth: int = DEFAULT_DEPTH):
        if depth < 2:
            raise UserError("pipeline depth must be at least 2 (one set computing, one being filled), got {}"
                            .format(depth))
        self.backend, self.depth = backend, depth
        self._acl = backend._acl
        self._datasets: List[int] = []
        self._buffers: List[int] = []
        self._memory: List[int] = []
        self._events: List[int] = []
        self.stream = 0
        self.sets: List[_Set] = []
        try:
            self._allocate()
        except BaseException:
            self.close()
            raise

    def _allocate(self) -> None:
        from .acl import check

        acl, backend = self._acl, self.backend
        self.stream, ret = acl.rt.create_stream()
        check(ret, "acl.rt.create_stream")
        own = _Set([t.pointer for t in backend._inputs], [t.pointer for t in backend._outputs],
                   backend._input_dataset, backend._output_dataset)
        self.sets = [own] + [self._new_set() for _ in range(self.depth - 1)]
        for buffers in self.sets:
            buffers.event, ret = acl.rt.create_event()
            check(ret, "acl.rt.create_event")
            self._events.append(buffers.event)

    def _new_set(self) -> _Set:
        from .acl import check

        acl, backend = self._acl, self.backend
        pointers = []
        datasets = []
        for tensors in (backend._inputs, backend._outputs):
            dataset = acl.mdl.create_dataset()
            self._datasets.append(dataset)
            datasets.append(dataset)
            row = []
            for tensor in tensors:
                pointer, ret = acl.rt.malloc(tensor.size, 0)
                check(ret, "acl.rt.malloc({} bytes for {})".format(tensor.size, tensor.info.name))
                self._memory.append(pointer)
                buffer = acl.create_data_buffer(pointer, tensor.size)
                if not buffer:
                    from ..errors import ToolchainError

                    raise ToolchainError("acl.create_data_buffer failed for {}".format(tensor.info.name))
                self._buffers.append(buffer)
                _, ret = acl.mdl.add_dataset_buffer(dataset, buffer)
                check(ret, "acl.mdl.add_dataset_buffer")
                row.append(pointer)
            pointers.append(row)
        return _Set(pointers[0], pointers[1], datasets[0], datasets[1])

    # ---- running ----------------------------------------------------------------------------------
    def run_many(self, feeds: Iterable[Dict[str, np.ndarray]], wanted: Sequence[int]) -> Iterator[List[np.ndarray]]:
        """Outputs `wanted` (indices) of each feeds, in order. The caller holds the model's lock throughout."""
        from .acl import check

        acl, backend = self._acl, self.backend
        free: Deque[int] = deque(range(self.depth))
        busy: Deque[int] = deque()
        try:
            for named in feeds:
                done: Optional[List[np.ndarray]] = None
                if not free:  # every set in use: take the oldest's outputs, then it takes this request
                    index = busy.popleft()
                    done = self._collect(self.sets[index], wanted)
                    free.append(index)
                check(acl.rt.set_context(backend._context), "acl.rt.set_context")
                index = free.popleft()
                buffers = self.sets[index]
                for tensor, pointer in zip(backend._inputs, buffers.inputs):
                    self._copy_in(tensor, pointer, named[tensor.info.name])
                busy.append(index)
                check(acl.mdl.execute_async(backend._model_id, buffers.input_dataset, buffers.output_dataset,
                                            self.stream), "acl.mdl.execute_async")
                check(acl.rt.record_event(buffers.event, self.stream), "acl.rt.record_event")
                if done is not None:  # handed over only now, so the NPU has the new request while the caller works
                    yield done
            while busy:
                results = self._collect(self.sets[busy.popleft()], wanted)
                yield results
        finally:
            if busy:  # abandoned or failed halfway: the device must be done with the buffers before reuse
                acl.rt.synchronize_stream(self.stream)

    def _copy_in(self, tensor: Any, pointer: int, value: Any) -> None:
        """One copy: host to device from the array's own memory, or device to device for a DVPP output."""
        from .acl import check
        from .dvpp import DeviceImage

        acl, backend = self._acl, self.backend
        if isinstance(value, DeviceImage):
            if value.size != tensor.size:
                raise UserError("input '{}' takes {} bytes; the DVPP image has {}".format(
                    tensor.info.name, tensor.size, value.size))
            try:
                check(acl.rt.memcpy(pointer, tensor.size, value.pointer, value.size, 3),  # ACL_MEMCPY_DEVICE_TO_DEVICE
                      "acl.rt.memcpy (DVPP image to input {})".format(tensor.info.name))
            finally:
                value.release()
            return
        array = backend._host_array(tensor, value)
        check(acl.rt.memcpy(pointer, tensor.size, array.ctypes.data, array.nbytes, backend._copy_in),
              "acl.rt.memcpy (input {})".format(tensor.info.name))

    def _collect(self, buffers: _Set, wanted: Sequence[int]) -> List[np.ndarray]:
        from .acl import check

        acl, backend = self._acl, self.backend
        check(acl.rt.set_context(backend._context), "acl.rt.set_context")
        check(acl.rt.synchronize_event(buffers.event), "acl.mdl.execute_async (at acl.rt.synchronize_event)")
        results = []
        for index in wanted:
            tensor = backend._outputs[index]
            info: TensorInfo = tensor.info
            out = np.empty(tuple(int(d) for d in info.shape), info.dtype)  # pipelined runs are static models
            check(acl.rt.memcpy(out.ctypes.data, out.nbytes, buffers.outputs[index], out.nbytes, backend._copy_out),
                  "acl.rt.memcpy (output {})".format(info.name))
            results.append(out)
        return results

    # ---- teardown ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Buffers, datasets, memory, events, then the stream (the documented order); set 0 is the backend's."""
        from .acl import _warn_on_failure

        acl = self._acl
        if self.stream:
            _warn_on_failure(acl.rt.synchronize_stream(self.stream), "acl.rt.synchronize_stream")
        for buffer in self._buffers:
            _warn_on_failure(acl.destroy_data_buffer(buffer), "acl.destroy_data_buffer")
        for dataset in self._datasets:
            _warn_on_failure(acl.mdl.destroy_dataset(dataset), "acl.mdl.destroy_dataset")
        for pointer in self._memory:
            _warn_on_failure(acl.rt.free(pointer), "acl.rt.free")
        for event in self._events:
            _warn_on_failure(acl.rt.destroy_event(event), "acl.rt.destroy_event")
        if self.stream:
            _warn_on_failure(acl.rt.destroy_stream(self.stream), "acl.rt.destroy_stream")
        self._buffers, self._datasets, self._memory, self._events, self.stream = [], [], [], [], 0
