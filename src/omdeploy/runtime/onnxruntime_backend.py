"""onnxruntime backend. Providers are explicit: CPU unless CUDA or CANN is asked for and available."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .._optional import require
from ..errors import UserError, one_of
from .base import Backend, TensorInfo, guess_layout

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cann": "CANNExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int16)": np.int16, "tensor(uint16)": np.uint16,
    "tensor(int32)": np.int32, "tensor(uint32)": np.uint32, "tensor(int64)": np.int64,
    "tensor(uint64)": np.uint64, "tensor(bool)": np.bool_,
}


def _dims(shape: Sequence[Any]) -> tuple:
    return tuple(d if isinstance(d, int) and d >= 0 else (d if isinstance(d, str) and d else "?") for d in shape)


def _info(node: Any) -> TensorInfo:
    shape = _dims(node.shape or ())
    dtype = np.dtype(_ORT_TYPES.get(node.type, np.float32))
    return TensorInfo(node.name, shape, dtype, guess_layout(shape))


def resolve_providers(providers: Union[None, str, Sequence[str]], available: Sequence[str]) -> List[str]:
    """Map short names ('cpu', 'cuda', 'cann') or full provider names to the ones onnxruntime knows."""
    if providers is None:
        return ["CPUExecutionProvider"]
    if isinstance(providers, str):
        providers = [p.strip() for p in providers.split(",") if p.strip()]
    chosen = []
    for p in providers:
        full = PROVIDERS.get(p.lower(), p)
        if full not in available:
            raise UserError("onnxruntime provider {} is not available in this onnxruntime build; available: {}"
                            .format(full, one_of(available)),
                            hint="install the onnxruntime package built for it (e.g. onnxruntime-gpu, "
                                 "onnxruntime-cann) or use provider 'cpu'")
        chosen.append(full)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")  # fallback for nodes the accelerator does not take
    return chosen


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, path: str, spec: Any = None, providers: Union[None, str, Sequence[str]] = None,
                 threads: Optional[int] = None, optimization: str = "all", **_: Any):
        ort = require("onnxruntime", "running ONNX models")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        levels = {"none": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
                  "all": "ORT_ENABLE_ALL"}
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, levels[optimization])
        self.providers = resolve_providers(providers, ort.get_available_providers())
        try:
            self._session = ort.InferenceSession(path, sess_options=options, providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise UserError("onnxruntime cannot load {}: {}".format(path, str(exc).splitlines()[0])) from None
        self.inputs = [_info(i) for i in self._session.get_inputs()]
        self.outputs = [_info(o) for o in self._session.get_outputs()]
        self._version = ort.__version__

    def run(self, feeds: Dict[str, np.ndarray], output_names: Optional[Sequence[str]] = None) -> List[np.ndarray]:
        return self._session.run(output_names, feeds)

    def describe(self) -> Dict[str, object]:
        return {"providers": self._session.get_providers(), "onnxruntime": self._version}

    def close(self) -> None:
        self._session = None
