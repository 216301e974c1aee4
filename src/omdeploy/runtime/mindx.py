"""MindX SDK backend: .om models through `mindx.sdk` (Vision SDK's base.model and Tensor).

    Session("model.om", backend="mindx")

Written to the Vision SDK python API (reference/anchors.md section 5) and tested against the strict fake in
tests/fakes/mindx; not yet run on hardware. The SDK's init rules are handled once per process: mx_init is
called by the first model only (a second call is the "repeat init" error that keeps acllite- and
MindX-style code from loading two models), and mx_deinit runs at interpreter exit (or `shutdown()`) after
every model omdeploy opened is released, since objects owning device memory must go before it.
Thread safety: one lock per model (the SDK allows one instance per thread).
Do not mix it with the acl backend in one process: the field report found their environments conflict.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import ToolchainError, UserError
from ..log import info_once, logger
from ..spec import Sidecar
from .once import OncePerProcess
from .base import Backend, TensorInfo, guess_layout

APP_ERR_OK = 0


def import_mindx() -> Any:
    try:
        import mindx.sdk as sdk
    except ImportError as exc:
        raise UserError("the MindX SDK (`mindx.sdk`) cannot be imported: {}".format(exc),
                        hint="source CANN's set_env.sh and then the MindX SDK's own set_env.sh (in its install "
                             "folder, e.g. /usr/local/Ascend/mxVision/set_env.sh), or use backend 'acl'") from None
    return sdk


class _MindxRuntime(OncePerProcess):
    """mx_init once per process; mx_deinit after every model omdeploy opened is released."""

    def __init__(self) -> None:
        super().__init__()
        self.base: Any = None

    def ensure_init(self, base: Any) -> None:
        with self.lock:
            if self.base is not None:
                return
            try:
                ret = base.mx_init()
            except RuntimeError as exc:  # in case an SDK raises instead of returning a code
                ret = str(exc)
            if ret in (APP_ERR_OK, None):
                self.owns_init = True
            else:
                info_once("mx-shared-init", "mx_init answered %s: MindX is taken as initialised already in "
                                            "this process, and mx_deinit is left to its owner", ret)
            self.base = base
            self.teardown_at_exit(shutdown)

    def shutdown(self) -> None:
        with self.lock:
            self.close_models()
            base, self.base = self.base, None
            if base is not None and self.owns_init:
                ret = base.mx_deinit()
                if ret not in (APP_ERR_OK, None):
                    logger.warning("mx_deinit failed with %s", ret)


_RUNTIME = _MindxRuntime()


def shutdown() -> None:
    """Release every model opened through MindX, then mx_deinit (also runs at interpreter exit)."""
    _RUNTIME.shutdown()


def _numpy_dtype(sdk_dtype: Any) -> np.dtype:
    """base.dtype.float32 (or its string form 'dtype.float32') -> numpy float32."""
    name = str(sdk_dtype).rsplit(".", 1)[-1].lower()
    try:
        return np.dtype(name)
    except TypeError:
        raise ToolchainError("MindX reports dtype {}, which omdeploy cannot map to numpy".format(sdk_dtype)) from None


class MindxBackend(Backend):
    name = "mindx"
    reports_device_layouts = True

    def __init__(self, path: str, spec: Any = None, device: int = 0, **_: Any):
        self._sdk = import_mindx()
        self.path, self.device = path, int(device)
        self._lock = threading.Lock()
        _RUNTIME.ensure_init(self._sdk.base)
        try:
            self._model = self._sdk.base.model(modelPath=path, deviceId=self.device)
        except RuntimeError as exc:
            raise ToolchainError("MindX cannot load {}: {}".format(path, exc)) from None
        if not self._model:
            raise ToolchainError("MindX cannot load {} on device {}".format(path, self.device))
        sidecar = Sidecar.load_if_valid(Sidecar.path_for(path))
        declared = sidecar.inputs if sidecar and len(sidecar.inputs) == self._model.input_num else []
        self.inputs = [self._info(i, declared[i] if declared else None) for i in range(self._model.input_num)]
        self.outputs = [TensorInfo("output{}".format(i), self._shape(self._model.output_shape(i)),
                                   _numpy_dtype(self._model.output_dtype(i)))
                        for i in range(self._model.output_num)]
        self.gears = self._model.model_gear()
        _RUNTIME.opened(self)

    @staticmethod
    def _shape(dims: Sequence[int]) -> tuple:
        return tuple(int(d) if int(d) >= 0 else "?" for d in dims)

    def _info(self, index: int, declared: Any) -> TensorInfo:
        """The SDK's description of input `index`, with the sidecar's contract entry (ascend.contract)."""
        from ..ascend.contract import described_input

        shape, dtype = self._shape(self._model.input_shape(index)), _numpy_dtype(self._model.input_dtype(index))
        shape, layout = described_input(shape, dtype, "ND", declared)
        if layout == "ND":  # the SDK reports no layout: the contract's, else guessed from the dims
            layout = declared.layout if declared is not None else guess_layout(shape)
        return TensorInfo(declared.name if declared is not None else "input{}".format(index), shape, dtype, layout)

    def run(self, feeds: Dict[str, np.ndarray], output_names: Optional[Sequence[str]] = None) -> List[np.ndarray]:
        with self._lock:
            if self._model is None:
                raise UserError("{} was closed; open a new Session to run it again".format(self.path))
            # Tensor wraps the array's memory: it must be contiguous or the SDK reads the original layout
            tensors = [self._sdk.Tensor(np.ascontiguousarray(feeds[i.name])) for i in self.inputs]
            try:
                results = self._model.infer(tensors)
            except RuntimeError as exc:
                raise ToolchainError("MindX inference on {} failed: {}".format(self.path, exc)) from None
            names = [o.name for o in self.outputs]
            wanted = range(len(names)) if output_names is None else [names.index(n) for n in output_names]
            outputs = []
            for index in wanted:
                results[index].to_host()
                outputs.append(np.array(results[index]))
            return outputs

    def describe(self) -> Dict[str, object]:
        return {"device": self.device, "gears": self.gears, "threading": "one lock per model",
                "mx_init": "omdeploy" if _RUNTIME.owns_init else "another library"}

    def close(self) -> None:
        with self._lock:
            self._model = None  # the SDK frees the model's device memory when the object goes
        _RUNTIME.closed(self)

