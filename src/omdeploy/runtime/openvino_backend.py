"""OpenVINO backend (CPU by default). Reads .onnx directly, or IR (.xml + .bin)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .._optional import require
from ..errors import UserError
from .base import Backend, TensorInfo, guess_layout


def _info(port: Any, fallback: str) -> TensorInfo:
    try:
        name = port.get_any_name()
    except RuntimeError:  # unnamed port
        name = fallback
    shape = tuple(d.get_length() if d.is_static else "?" for d in port.get_partial_shape())
    dtype = np.dtype(port.get_element_type().to_dtype())
    return TensorInfo(name, shape, dtype, guess_layout(shape))


class OpenVinoBackend(Backend):
    name = "openvino"

    def __init__(self, path: str, spec: Any = None, device: str = "CPU", threads: Optional[int] = None,
                 precision: str = "f32", **_: Any):
        ov = require("openvino", "the OpenVINO backend")
        core = ov.Core()
        # OpenVINO runs bf16 by default on CPUs that have it, which moves logits by ~0.1; be exact unless asked
        config: Dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            model = core.read_model(path)
            self._compiled = core.compile_model(model, device, config)
        except RuntimeError as exc:
            # OpenVINO's message starts with "Exception from <source file>:<line>:" lines; the reason follows
            lines = [line for line in str(exc).strip().splitlines() if line.strip()]
            reason = next((line for line in lines if not line.startswith("Exception from ")), lines[0] if lines else "")
            raise UserError("OpenVINO cannot load {} on {}: {}".format(path, device, reason.strip())) from None
        self.device = device
        self.inputs = [_info(p, "input{}".format(i)) for i, p in enumerate(self._compiled.inputs)]
        self.outputs = [_info(p, "output{}".format(i)) for i, p in enumerate(self._compiled.outputs)]
        self._request = self._compiled.create_infer_request()
        self._version = ov.get_version()

    def run(self, feeds: Dict[str, np.ndarray], output_names: Optional[Sequence[str]] = None) -> List[np.ndarray]:
        inputs = {i: feeds[info.name] for i, info in enumerate(self.inputs)}
        results = self._request.infer(inputs)
        by_index = [np.array(results[port]) for port in self._compiled.outputs]
        if output_names is None:
            return by_index
        position = {o.name: i for i, o in enumerate(self.outputs)}
        return [by_index[position[n]] for n in output_names]

    def describe(self) -> Dict[str, object]:
        return {"device": self.device, "openvino": self._version}

    def close(self) -> None:
        self._request = None
        self._compiled = None
