"""pyACL backend: Ascend offline models (.om) through the `acl` module of CANN.

    with Session("model.om") as s:               # backend "acl" is chosen for .om when pyACL imports
        out = s.run(image)

Written to the documented pyACL API (docs/reference.md [pyacl]) and tested against the strict fake in
tests/fakes/acl; not yet run on hardware. What it does about the field report's pains:

- ACL is initialised once per process and one context per device is shared by every model on it
  (reference-counted), so several models load side by side. aclInit answering 100002 (another library,
  e.g. acllite or MindX, initialised ACL first) is accepted, and then finalising is left to that library.
  A device's context is destroyed and the device reset when its last model closes; acl.finalize runs at
  interpreter exit (or `shutdown()`), never from a destructor, as the aclFinalize docs advise.
- Per model the description is read once and device buffers and datasets are allocated once. Inputs are
  copied from the numpy array's own memory (no tobytes()), outputs land in a fresh numpy array: one copy
  each way, nothing allocated on the device per call.
- Dynamic batch / image size / dims: the gear is chosen from the input shapes; a batch that is not a gear
  is zero-padded to the next gear and the outputs are sliced back (pad_batch=False refuses instead);
  anything else that is not a gear is refused with the list of gears.
- Thread safety: one lock per model (runs of one model from several threads are serialised; different
  models run concurrently), and the shared context is made current on the calling thread at every run.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..ascend.contract import described_input, hw_axes
from ..errors import ToolchainError, UserError
from ..log import info_once, logger, warning_once
from ..spec import Sidecar
from .base import Backend, Dim, TensorInfo
from .once import OncePerProcess
from .gears import Gears, Plan, slice_batch

# aclDataType and aclFormat codes (docs/reference.md [pyacl])
ACL_DTYPES = {0: np.float32, 1: np.float16, 2: np.int8, 3: np.int32, 4: np.uint8, 6: np.int16, 7: np.uint16,
              8: np.uint32, 9: np.int64, 10: np.uint64, 11: np.float64, 12: np.bool_}
ACL_FORMATS = {0: "NCHW", 1: "NHWC", 2: "ND", 3: "NC1HWC0", 4: "FRACTAL_Z", 27: "NDHWC", 29: "FRACTAL_NZ",
               30: "NCDHW"}
ACL_SUCCESS = 0
ACL_ERROR_REPEAT_INITIALIZE = 100002
ACL_HOST, ACL_DEVICE = 1, 0  # acl.rt.get_run_mode(): is this program on a host, or on the device itself
MEMCPY_KINDS = {ACL_HOST: (1, 2), ACL_DEVICE: (3, 3)}  # run mode -> (input kind, output kind): H2D/D2H or D2D
MALLOC_HUGE_FIRST = 0
DYNAMIC_TENSOR_NAME = "ascend_mbatch_shape_data"  # the extra input a model with gears has (ACL_DYNAMIC_TENSOR_NAME)
DEVICE_LOGS = "~/ascend/log/debug/plog/"

# where CANN puts the script that puts pyACL on PYTHONPATH: the install roots and set_env.sh scripts of
# data/environment.json (install_layout), first found wins; standard library only, as this backend needs
from ..ascend import setenv as _setenv  # noqa: E402

INSTALL_ROOTS = tuple(_setenv.install_layout()["roots"])


# ---- pyACL import and errors ---------------------------------------------------------------------
def find_set_env(roots: Optional[Sequence[str]] = None) -> Optional[Path]:
    from ..ascend.setenv import find_script

    return find_script(INSTALL_ROOTS if roots is None else roots)


def _set_env_hint() -> str:
    found = find_set_env()
    if found is not None:
        return "source {} in this shell, then run again".format(found)
    return ("source the CANN environment first: /usr/local/Ascend/ascend-toolkit/set_env.sh (toolkit), "
            "/usr/local/Ascend/nnrt/set_env.sh (runtime-only box), or the same under ~/Ascend for a non-root "
            "install; no CANN was found in {}".format(", ".join(INSTALL_ROOTS)))


def import_acl() -> Any:
    try:
        import acl
    except ImportError as exc:
        if exc.name == "acl":
            raise UserError("pyACL (the `acl` module of CANN) was not found by {}".format(sys.executable),
                            hint=_set_env_hint()) from None
        raise UserError("pyACL was found but cannot load: {}".format(exc), hint=_set_env_hint()) from None
    return acl


def acl_error(code: int, call: str) -> ToolchainError:
    """The failure of one pyACL call, explained by the error knowledge base when it knows the code."""
    from ..ascend.knowledge import describe_code

    known = describe_code(code)
    if known is None:
        return ToolchainError("{} failed with ACL error {}".format(call, code),
                              hint="the device log under {} says why".format(DEVICE_LOGS))
    fixes = "; ".join(known.fixes[:2]) if known.fixes else "the device log under {} says why".format(DEVICE_LOGS)
    return ToolchainError("{} failed with ACL error {} ({}: {})".format(call, code, known.name, known.meaning),
                          hint=fixes, diagnosis=known)


def check(ret: int, call: str) -> None:
    if ret != ACL_SUCCESS:
        raise acl_error(ret, call)


def _warn_on_failure(ret: int, call: str) -> None:
    """Teardown keeps going after a failure (it may run at exit): say so, do not raise."""
    if ret != ACL_SUCCESS:
        logger.warning("%s failed with ACL error %s during teardown", call, ret)


load_sidecar = Sidecar.load_if_valid


# ---- the process-wide runtime --------------------------------------------------------------------
class _Runtime(OncePerProcess):
    """aclInit once per process, one context per device shared by every model on it."""

    def __init__(self) -> None:
        super().__init__()
        self.acl: Any = None
        self.contexts: Dict[int, List[int]] = {}  # device -> [context, models using it]

    def acquire(self, acl: Any, device: int) -> int:
        with self.lock:
            if self.acl is None:
                ret = acl.init()
                if ret == ACL_ERROR_REPEAT_INITIALIZE:
                    info_once("acl-shared-init", "ACL was initialised by another library in this process: "
                                                 "sharing it, and leaving acl.finalize to that library")
                else:
                    check(ret, "acl.init")
                self.acl, self.owns_init = acl, ret == ACL_SUCCESS
                self.teardown_at_exit(shutdown)
            entry = self.contexts.get(device)
            if entry is None:
                check(acl.rt.set_device(device), "acl.rt.set_device({})".format(device))
                context, ret = acl.rt.create_context(device)
                if ret != ACL_SUCCESS:
                    _warn_on_failure(acl.rt.reset_device(device), "acl.rt.reset_device")
                    raise acl_error(ret, "acl.rt.create_context({})".format(device))
                entry = self.contexts[device] = [context, 0]
            entry[1] += 1
            return entry[0]

    def release(self, device: int) -> None:
        with self.lock:
            entry = self.contexts.get(device)
            if entry is None or self.acl is None:  # a shutdown() got here first and released everything
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del self.contexts[device]
            _warn_on_failure(self.acl.rt.destroy_context(entry[0]), "acl.rt.destroy_context")
            _warn_on_failure(self.acl.rt.reset_device(device), "acl.rt.reset_device({})".format(device))

    def shutdown(self) -> None:
        with self.lock:
            self.close_models()
            acl, self.acl = self.acl, None
            if acl is not None and self.owns_init:
                _warn_on_failure(acl.finalize(), "acl.finalize")


_RUNTIME = _Runtime()


def shutdown() -> None:
    """Close every open .om model, release the devices and finalize ACL (also runs at interpreter exit)."""
    _RUNTIME.shutdown()


# ---- gears (the policy is runtime/gears.py, shared with the simulator) -----------------------------
def read_gears(acl: Any, desc: Any) -> Gears:
    """The compiled gears of a loaded model, from its description."""
    batch, ret = acl.mdl.get_dynamic_batch(desc)
    if ret == ACL_SUCCESS and batch and batch.get("batchCount"):
        return Gears("batch", [(int(b),) for b in batch["batch"]])
    hw, ret = acl.mdl.get_dynamic_hw(desc, -1)
    if ret == ACL_SUCCESS and hw and hw.get("hwCount"):
        return Gears("image_size", [tuple(int(v) for v in g) for g in hw["hw"]])
    count, ret = acl.mdl.get_input_dynamic_gear_count(desc, -1)
    if ret == ACL_SUCCESS and count:
        dims, ret = acl.mdl.get_input_dynamic_dims(desc, -1, count)
        check(ret, "acl.mdl.get_input_dynamic_dims")
        return Gears("dims", [tuple(int(v) for v in g["dims"]) for g in dims])
    return Gears()


# ---- the backend ---------------------------------------------------------------------------------
@dataclass
class _Tensor:
    info: TensorInfo
    size: int  # bytes of the device buffer (the largest gear for dynamic models)
    pointer: int = 0
    dynamic_axes: Tuple[int, ...] = ()


class AclBackend(Backend):
    name = "acl"
    reports_device_layouts = True

    def __init__(self, path: str, spec: Any = None, device: int = 0, pad_batch: bool = True,
                 pipeline_depth: int = 2, **_: Any):
        acl = import_acl()
        self._acl, self.path, self.device, self.pad_batch = acl, path, int(device), pad_batch
        self.pipeline_depth = int(pipeline_depth)  # buffer sets of run_many (the pipelined mode); 1: synchronous
        self._pipeline: Any = None
        self._pipelining_thread: Optional[int] = None
        self._lock = threading.Lock()
        self._closed = False
        self._model_id: Optional[int] = None
        self._desc: Optional[int] = None
        self._datasets: List[int] = []
        self._data_buffers: List[int] = []
        self._device_memory: List[int] = []
        self._gear_set: Optional[Tuple[int, ...]] = None
        self.stage_seconds: Dict[str, float] = {}
        self.owns_acl_init = False
        self._context = _RUNTIME.acquire(acl, self.device)
        try:
            self.owns_acl_init = _RUNTIME.owns_init
            mode, ret = acl.rt.get_run_mode()
            check(ret, "acl.rt.get_run_mode")
            self.run_mode = mode
            self._copy_in, self._copy_out = MEMCPY_KINDS.get(mode, MEMCPY_KINDS[ACL_HOST])
            self._load(path)
        except BaseException:
            self.close()
            raise
        _RUNTIME.opened(self)

    # ---- loading ----------------------------------------------------------------------------------
    def _load(self, path: str) -> None:
        acl = self._acl
        self._model_id, ret = acl.mdl.load_from_file(path)
        if ret != ACL_SUCCESS:
            self._model_id = None
            raise acl_error(ret, "acl.mdl.load_from_file({})".format(path))
        self._desc = acl.mdl.create_desc()
        check(acl.mdl.get_desc(self._desc, self._model_id), "acl.mdl.get_desc")
        self.gears = read_gears(acl, self._desc)
        described = [self._describe(i, True) for i in range(acl.mdl.get_num_inputs(self._desc))]
        self._gear_index = next((i for i, t in enumerate(described) if t.info.name == DYNAMIC_TENSOR_NAME), None)
        if self.gears.mode and self._gear_index is None:
            raise ToolchainError("{} has {} gears but no {} input".format(path, self.gears.mode, DYNAMIC_TENSOR_NAME))
        self._inputs = [t for t in described if t.info.name != DYNAMIC_TENSOR_NAME]
        self._outputs = [self._describe(i, False) for i in range(acl.mdl.get_num_outputs(self._desc))]
        self._input_dataset = self._dataset(described)
        self._output_dataset = self._dataset(self._outputs)
        self._apply_sidecar(Sidecar.path_for(path))
        self.inputs = [t.info for t in self._inputs]
        self.outputs = [t.info for t in self._outputs]

    def _describe(self, index: int, is_input: bool) -> _Tensor:
        mdl, desc = self._acl.mdl, self._desc
        kind = "input" if is_input else "output"
        dims, ret = (mdl.get_input_dims if is_input else mdl.get_output_dims)(desc, index)
        check(ret, "acl.mdl.get_{}_dims({})".format(kind, index))
        code = (mdl.get_input_data_type if is_input else mdl.get_output_data_type)(desc, index)
        if code not in ACL_DTYPES:
            raise ToolchainError("{} {} of {} has aclDataType {}, which omdeploy cannot map to numpy".format(
                kind, dims["name"], self.path, code))
        layout = ACL_FORMATS.get((mdl.get_input_format if is_input else mdl.get_output_format)(desc, index), "ND")
        size = (mdl.get_input_size_by_index if is_input else mdl.get_output_size_by_index)(desc, index)
        raw = [int(d) for d in dims["dims"]]
        if not is_input and self.gears.mode == "batch" and raw and raw[0] == self.gears.values[-1][0]:
            raw[0] = -1  # outputs are described at the largest gear; their batch follows the input's
        shape = tuple(self._dim_name(layout, axis) if d < 0 else d for axis, d in enumerate(raw))
        info = TensorInfo(dims["name"], shape, np.dtype(ACL_DTYPES[code]),
                          layout if layout in ("NCHW", "NHWC") else "ND")
        return _Tensor(info, int(size), dynamic_axes=tuple(a for a, d in enumerate(raw) if d < 0))

    def _dim_name(self, layout: str, axis: int) -> Dim:
        if self.gears.mode == "batch" and axis == 0:
            return "batch"
        axes = hw_axes(layout) if self.gears.mode == "image_size" else None
        if axes is not None and axis in axes:
            return "height" if axis == axes[0] else "width"
        return "?"

    def _dataset(self, tensors: Sequence[_Tensor]) -> int:
        acl = self._acl
        dataset = acl.mdl.create_dataset()
        self._datasets.append(dataset)
        for tensor in tensors:
            pointer, ret = acl.rt.malloc(tensor.size, MALLOC_HUGE_FIRST)
            check(ret, "acl.rt.malloc({} bytes for {})".format(tensor.size, tensor.info.name))
            self._device_memory.append(pointer)
            tensor.pointer = pointer
            buffer = acl.create_data_buffer(pointer, tensor.size)
            if not buffer:
                raise ToolchainError("acl.create_data_buffer failed for {}".format(tensor.info.name))
            self._data_buffers.append(buffer)
            _, ret = acl.mdl.add_dataset_buffer(dataset, buffer)  # (dataset, ret), not ret
            check(ret, "acl.mdl.add_dataset_buffer")
        return dataset

    def _apply_sidecar(self, sidecar_path: Path) -> None:
        """The device contract in <model>.om.json fills in what the description cannot say."""
        sidecar = load_sidecar(sidecar_path)
        self.sidecar = str(sidecar_path) if sidecar else None
        declared = {i.name: i for i in sidecar.inputs} if sidecar else {}
        for tensor in self._inputs:
            info, spec = tensor.info, declared.get(tensor.info.name)
            if spec is None:
                continue
            if np.dtype(spec.dtype) != info.dtype:
                warning_once(("sidecar-dtype", info.name), "%s says input '%s' is %s but the model takes %s; "
                             "trusting the model (the sidecar may be stale)", sidecar_path, info.name,
                             spec.dtype, info.dtype.name)
                continue
            shape, layout = described_input(info.shape, info.dtype, info.layout, spec, tensor.size)
            tensor.info = TensorInfo(info.name, shape, info.dtype, layout)

    # ---- running ----------------------------------------------------------------------------------
    def run(self, feeds: Dict[str, np.ndarray], output_names: Optional[Sequence[str]] = None) -> List[np.ndarray]:
        self._refuse_inside_run_many()
        if any(type(v).__name__ == "DeviceImage" for v in feeds.values()):  # a DVPP output: copied device to device
            return next(iter(self.run_many([feeds], output_names)))
        with self._lock:
            if self._closed:
                raise UserError("{} was closed; open a new Session to run it again".format(self.path))
            acl = self._acl
            check(acl.rt.set_context(self._context), "acl.rt.set_context")
            arrays = [self._host_array(t, feeds[t.info.name]) for t in self._inputs]
            plan = self._plan([a.shape for a in arrays])
            arrays = [plan.pad(a) for a in arrays]
            start = time.perf_counter()
            for tensor, array in zip(self._inputs, arrays):
                check(acl.rt.memcpy(tensor.pointer, tensor.size, array.ctypes.data, array.nbytes, self._copy_in),
                      "acl.rt.memcpy (input {})".format(tensor.info.name))
            if plan.gear is not None and plan.gear != self._gear_set:
                self._set_gear(plan.gear)
            copied = time.perf_counter()
            check(acl.mdl.execute(self._model_id, self._input_dataset, self._output_dataset), "acl.mdl.execute")
            computed = time.perf_counter()
            wanted = range(len(self._outputs)) if output_names is None else [
                [t.info.name for t in self._outputs].index(n) for n in output_names]
            results = [self._fetch(i, plan) for i in wanted]
            self.stage_seconds = {"h2d": copied - start, "compute": computed - copied,
                                  "d2h": time.perf_counter() - computed}
            return results

    def run_many(self, feeds: Iterable[Dict[str, np.ndarray]], output_names: Optional[Sequence[str]] = None
                 ) -> Iterator[List[np.ndarray]]:
        """The pipelined mode (runtime/acl_pipeline.py): outputs in input order, H2D of k+1 while k computes.
        Other threads' calls on this model wait until the iteration ends; gear models run synchronously."""
        from .acl_pipeline import AclPipeline, can_pipeline

        if self.pipeline_depth < 2 or not can_pipeline(self):
            yield from super().run_many(feeds, output_names)
            return
        self._refuse_inside_run_many()
        with self._lock:
            if self._closed:
                raise UserError("{} was closed; open a new Session to run it again".format(self.path))
            check(self._acl.rt.set_context(self._context), "acl.rt.set_context")
            if self._pipeline is None:
                self._pipeline = AclPipeline(self, self.pipeline_depth)
            names = [t.info.name for t in self._outputs]
            wanted = range(len(names)) if output_names is None else [names.index(n) for n in output_names]
            self._pipelining_thread = threading.get_ident()
            try:
                yield from self._pipeline.run_many(feeds, list(wanted))
            finally:
                self._pipelining_thread = None

    def _refuse_inside_run_many(self) -> None:
        if self._pipelining_thread == threading.get_ident():  # it would wait for itself
            raise UserError("{}: run() or run_many() called inside a run_many() loop of the same model".format(
                self.path), hint="finish (or break out of) the run_many loop first, or open a second Session")

    def _host_array(self, tensor: _Tensor, value: np.ndarray) -> np.ndarray:
        array = np.ascontiguousarray(value)  # no copy when it already is (Session's adapter made sure)
        if array.dtype != tensor.info.dtype:
            raise UserError("input '{}': expected {}, got {}".format(tensor.info.name, tensor.info.dtype.name,
                                                                     array.dtype.name))
        return array

    def _plan(self, shapes: List[Tuple[int, ...]]) -> Plan:
        mode = self.gears.mode
        if mode is None:
            return Plan(None)
        if mode == "batch":
            key: Tuple[int, ...] = (shapes[0][0],)
            what = "batch {}".format(key[0])
        elif mode == "image_size":
            tensor = next(t for t in self._inputs if t.dynamic_axes)
            shape = shapes[self._inputs.index(tensor)]
            key = tuple(shape[a] for a in tensor.dynamic_axes)
            what = "image size {}x{}".format(*key)
        else:
            key = tuple(d for shape in shapes for d in shape)
            what = "input shapes {}".format(", ".join(str(tuple(s)) for s in shapes))
        plan = self.gears.plan(key, self.pad_batch)
        if plan is None:
            hint = self.gears.refusal_hint(key, self.pad_batch)
            if mode == "dims":
                hint += " (all inputs' dims concatenated)"
            raise self._no_gear(what, hint)
        if plan.batch is not None:
            info_once(("acl-pad", self.path, plan.batch), "batch %d is not a gear of %s: padded to %d",
                      plan.batch, self.path, plan.padded_to)
        return plan

    def _no_gear(self, what: str, hint: str) -> UserError:
        return UserError("{} is not a compiled gear of {}; its {} gears are: {}".format(
            what, self.path, self.gears.mode, self.gears.describe()), hint=hint)

    def _set_gear(self, gear: Tuple[int, ...]) -> None:
        mdl, args = self._acl.mdl, (self._model_id, self._input_dataset, self._gear_index)
        if self.gears.mode == "batch":
            check(mdl.set_dynamic_batch_size(*args, gear[0]), "acl.mdl.set_dynamic_batch_size({})".format(gear[0]))
        elif self.gears.mode == "image_size":
            check(mdl.set_dynamic_hw_size(*args, gear[0], gear[1]), "acl.mdl.set_dynamic_hw_size")
        else:
            check(mdl.set_input_dynamic_dims(*args, {"name": "", "dimCount": len(gear), "dims": list(gear)}),
                  "acl.mdl.set_input_dynamic_dims")
        self._gear_set = gear

    def _fetch(self, index: int, plan: Plan) -> np.ndarray:
        acl, tensor = self._acl, self._outputs[index]
        if plan.gear is None and not tensor.info.is_dynamic:
            dims = tensor.info.shape
        else:  # a gear, or a true dynamic-shape model (310P/910): the device says what it produced
            current, ret = acl.mdl.get_cur_output_dims(self._desc, index)
            check(ret, "acl.mdl.get_cur_output_dims({})".format(index))
            dims = tuple(current["dims"])
        out = np.empty(tuple(int(d) for d in dims), tensor.info.dtype)
        if out.nbytes > tensor.size:
            raise ToolchainError("output {} needs {} bytes but its device buffer has {}".format(
                tensor.info.name, out.nbytes, tensor.size))
        check(acl.rt.memcpy(out.ctypes.data, out.nbytes, tensor.pointer, out.nbytes, self._copy_out),
              "acl.rt.memcpy (output {})".format(tensor.info.name))
        return slice_batch(out, plan)

    # ---- reports and teardown ---------------------------------------------------------------------
    def reported_dims(self, index: int = 0) -> Dict[str, Any]:
        """What pyACL itself reports for input and output `index` (acl.mdl.get_input_dims / get_output_dims,
        with their return codes): the selftest's evidence of how a dynamic model's dims are reported."""
        got_in, ret_in = self._acl.mdl.get_input_dims(self._desc, index)
        got_out, ret_out = self._acl.mdl.get_output_dims(self._desc, index)
        return {"get_input_dims": got_in, "ret_in": ret_in, "get_output_dims": got_out, "ret_out": ret_out}

    def describe(self) -> Dict[str, object]:
        return {"device": self.device, "run_mode": "host" if self.run_mode == ACL_HOST else "device",
                "gears": {"mode": self.gears.mode, "values": [list(g) for g in self.gears.values]},
                "acl_init": "omdeploy" if self.owns_acl_init else "another library",
                "threading": "one lock per model", "sidecar": self.sidecar,
                "run_many": "pipelined, {} buffer sets on one stream".format(self.pipeline_depth)
                if self.pipeline_depth >= 2 and self._can_pipeline() else "synchronous loop"}

    def _can_pipeline(self) -> bool:
        from .acl_pipeline import can_pipeline

        return can_pipeline(self)

    def close(self) -> None:
        """Teardown in the documented order: data buffers, datasets, device memory, model, description."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            acl = self._acl
            _warn_on_failure(acl.rt.set_context(self._context), "acl.rt.set_context")
            if self._pipeline is not None:
                self._pipeline.close()
                self._pipeline = None
            for buffer in self._data_buffers:
                _warn_on_failure(acl.destroy_data_buffer(buffer), "acl.destroy_data_buffer")
            for dataset in self._datasets:
                _warn_on_failure(acl.mdl.destroy_dataset(dataset), "acl.mdl.destroy_dataset")
            for pointer in self._device_memory:
                _warn_on_failure(acl.rt.free(pointer), "acl.rt.free")
            if self._model_id is not None:
                _warn_on_failure(acl.mdl.unload(self._model_id), "acl.mdl.unload")
            if self._desc is not None:
                _warn_on_failure(acl.mdl.destroy_desc(self._desc), "acl.mdl.destroy_desc")
            self._data_buffers, self._datasets, self._device_memory = [], [], []
        with _RUNTIME.lock:
            _RUNTIME.closed(self)
            _RUNTIME.release(self.device)

