"""Fake mindx.sdk.base, strict where the Vision SDK docs set rules (reference/anchors.md section 5).

- mx_init once per process: a second call returns an error code (the field report's "repeat init").
- Models and Tensors own device memory: they need mx_init first, and mx_deinit while any is alive is
  recorded as a leak.
- Tensor(array) wraps the numpy buffer; the real SDK silently reads a non-contiguous view as the original
  memory, the fake refuses it. Outputs live on the device until to_host().
Models are the manifests of tests/fakes/fake_om.py and compute with onnxruntime.
"""
from __future__ import annotations

import weakref
from collections import Counter
from typing import List

import numpy as np

import fake_om

APP_ERR_OK = 0
APP_ERR_REPEAT_INIT = 1001  # stands for the SDK's repeat-initialisation error

stats: Counter = Counter()
state = {"initialised": False, "live": 0, "leaks": []}


def _track(obj) -> None:
    state["live"] += 1
    weakref.finalize(obj, _release)


def _release() -> None:
    state["live"] -= 1


def mx_init() -> int:
    stats["mx_init"] += 1
    if state["initialised"]:
        return APP_ERR_REPEAT_INIT
    state["initialised"] = True
    return APP_ERR_OK


def mx_deinit() -> int:
    stats["mx_deinit"] += 1
    if state["live"]:
        state["leaks"].append("{} Model/Tensor objects alive at mx_deinit".format(state["live"]))
    state["initialised"] = False
    return APP_ERR_OK


class dtype:  # noqa: N801  (the SDK's own spelling: base.dtype.float32)
    float32, float16, uint8, int32, int64 = "dtype.float32", "dtype.float16", "dtype.uint8", "dtype.int32", "dtype.int64"


def _sdk_dtype(np_dtype) -> str:
    return "dtype." + np.dtype(np_dtype).name


class Tensor:
    def __init__(self, array: np.ndarray):
        if not state["initialised"]:
            raise RuntimeError("Tensor: mx_init() was not called")
        if not isinstance(array, np.ndarray) or not array.flags["C_CONTIGUOUS"]:
            raise ValueError("Tensor: the array is not C-contiguous (the SDK would read the original memory)")
        self._array, self._on_host = array, True
        self.shape, self.dtype = list(array.shape), _sdk_dtype(array.dtype)
        stats["tensor"] += 1
        _track(self)

    @classmethod
    def _on_device(cls, array: np.ndarray) -> "Tensor":
        tensor = cls(np.ascontiguousarray(array))
        tensor._on_host = False
        return tensor

    def to_host(self) -> None:
        self._on_host = True

    def __array__(self, dtype=None, copy=None):
        if not self._on_host:
            raise RuntimeError("Tensor: data is on the device; call to_host() first")
        return self._array if dtype is None else self._array.astype(dtype)


class Model:
    def __init__(self, modelPath: str, deviceId: int = 0):  # noqa: N803  (the SDK's keyword names)
        if not state["initialised"]:
            raise RuntimeError("Model: mx_init() was not called")
        self._model = fake_om.FakeModel(modelPath)
        self.input_num, self.output_num = len(self._model.inputs), len(self._model.outputs)
        stats["model"] += 1
        _track(self)

    def input_shape(self, index: int) -> List[int]:
        return list(self._model.inputs[index].dims)

    def input_dtype(self, index: int) -> str:
        return _sdk_dtype(self._model.inputs[index].dtype)

    def output_shape(self, index: int) -> List[int]:
        return list(self._model.outputs[index].dims)

    def output_dtype(self, index: int) -> str:
        return _sdk_dtype(self._model.outputs[index].dtype)

    def model_gear(self) -> List[List[int]]:
        return [list(g) for g in self._model.gears]

    def infer(self, tensors: List[Tensor]) -> List[Tensor]:
        if len(tensors) != self.input_num:
            raise RuntimeError("infer: expected {} tensors, got {}".format(self.input_num, len(tensors)))
        arrays = []
        for tensor, info in zip(tensors, self._model.inputs):
            if tensor.dtype != _sdk_dtype(info.dtype):
                raise RuntimeError("infer: input {} is {}, the model takes {}".format(
                    info.name, tensor.dtype, _sdk_dtype(info.dtype)))
            arrays.append(np.asarray(tensor))
        stats["infer"] += 1
        return [Tensor._on_device(out) for out in self._model.compute(arrays)]


def model(modelPath: str, deviceId: int = 0) -> Model:  # noqa: N803
    return Model(modelPath, deviceId)
