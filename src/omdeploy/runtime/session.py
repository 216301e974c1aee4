"""Session: one model, one backend, checked and adapted inputs.

    with Session("model.onnx") as s:                     # onnxruntime on the CPU
        out = s.run({"x": image})                        # dict, list, or one array
    Session("model.onnx", backend="openvino")
    Session("deploy.yaml")                               # a DeploySpec: model, layouts, preprocessing
"""
from __future__ import annotations

import importlib
import os
from collections import abc
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .._optional import available
from ..errors import UserError, did_you_mean, one_of
from ..log import logger, warning_once
from ..spec import SPEC_SUFFIXES, DeploySpec, Sidecar
from .adapt import InputAdapter
from .base import Backend, TensorInfo

# name -> (module, class, the package it runs on). Later backends (acl, sim, mindx) register here.
BACKENDS: Dict[str, Tuple[str, str, str]] = {
    "onnxruntime": ("omdeploy.runtime.onnxruntime_backend", "OnnxRuntimeBackend", "onnxruntime"),
    "openvino": ("omdeploy.runtime.openvino_backend", "OpenVinoBackend", "openvino"),
    "sim": ("omdeploy.runtime.sim", "SimBackend", "onnxruntime"),
    "acl": ("omdeploy.runtime.acl", "AclBackend", "acl"),
    "mindx": ("omdeploy.runtime.mindx", "MindxBackend", "mindx.sdk"),
}
# file suffix -> backends tried in order by backend="auto"
AUTO_BACKENDS: Dict[str, Tuple[str, ...]] = {
    ".onnx": ("onnxruntime", "openvino"),
    ".xml": ("openvino",),
    ".om": ("acl", "mindx"),
}

Feeds = Union[Mapping[str, Any], Sequence[Any], np.ndarray]


def _load_backend_class(name: str) -> type:
    module, cls, _ = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)


def _resolve(model: Union[str, os.PathLike, DeploySpec], spec: Union[None, str, os.PathLike, DeploySpec],
             backend: str = "auto") -> Tuple[Path, Optional[DeploySpec]]:
    if isinstance(spec, (str, os.PathLike)):
        spec = DeploySpec.load(spec)
    if isinstance(model, DeploySpec):
        return model.model_path, model
    path = Path(model)
    if path.suffix.lower() == ".tar":  # a bundle (omdeploy pack): unpacked once into a cache, verified before use
        from ..bundle.cache import resolve_model

        path = resolve_model(path, backend)
    if path.name.lower().endswith(".om.json"):  # a sidecar: run the model it describes
        path = path.with_name(path.name[:-len(".json")])
    sidecar = Sidecar.load_if_valid(Sidecar.path_for(path)) if path.suffix.lower() == ".om" and spec is None \
        else None
    if sidecar is not None and sidecar.spec:
        # the sidecar carries the spec the .om was built from: its preprocessing applies on the box too
        return path, DeploySpec.from_dict(sidecar.spec, source=str(Sidecar.path_for(path)), base_dir=str(path.parent))
    if path.suffix.lower() in SPEC_SUFFIXES:
        loaded = DeploySpec.load(path)
        return loaded.model_path, spec or loaded
    return path, spec


def choose_backend(path: Path, backend: str) -> str:
    if backend != "auto":
        if backend not in BACKENDS:
            raise UserError("unknown backend {!r}{}; known: {}".format(
                backend, did_you_mean(backend, BACKENDS), one_of(sorted(BACKENDS))))
        return backend
    suffix = path.suffix.lower()
    candidates = AUTO_BACKENDS.get(suffix)
    if not candidates:
        known = one_of(sorted(AUTO_BACKENDS))
        raise UserError("{}: no backend runs '{}' files here; expected one of {}".format(path, suffix or "(none)", known))
    for name in candidates:
        if available(BACKENDS[name][2]):
            return name
    return candidates[0]  # opening it raises the error that names the missing extra


def _check_argument(what: str, value: Any, types: tuple, expected: str) -> None:
    if not isinstance(value, types):
        raise UserError("{}: expected {}, got {}".format(what, expected, type(value).__name__))


def _native(name: str, value: Any, info: TensorInfo) -> Any:
    """Big-endian arrays in native byte order; a float feed past float16's range warned about (once)."""
    if not isinstance(value, np.ndarray):
        if value is None or isinstance(value, (str, bytes)):
            raise UserError("input '{}': expected a numpy array, got {}".format(name, type(value).__name__))
        return value
    if value.dtype.byteorder not in ("=", "|") and value.dtype.byteorder != _NATIVE:
        value = value.astype(value.dtype.newbyteorder("="))
    if np.dtype(info.dtype) == np.float16 and value.dtype.kind == "f" and value.dtype.itemsize > 2 and value.size:
        with np.errstate(invalid="ignore"):
            peak = float(np.nanmax(np.abs(value)))
        if peak > 65504.0:
            warning_once(("fp16-overflow", name), "input '%s': values up to %g do not fit float16 (max 65504) and "
                         "become inf", name, peak)
    return value


_NATIVE = "<" if sys.byteorder == "little" else ">"


def _on_device(value: Any) -> bool:
    """A DVPP output already in device memory (runtime/dvpp.py): the acl backend takes it as it is."""
    return type(value).__name__ == "DeviceImage" and hasattr(value, "pointer")


class Session:
    def __init__(self, model: Union[str, os.PathLike, DeploySpec], backend: str = "auto",
                 spec: Union[None, str, os.PathLike, DeploySpec] = None, **options: Any):
        _check_argument("Session(model)", model, (str, os.PathLike, DeploySpec), "a path (str or Path) or a DeploySpec")
        if spec is not None:
            _check_argument("Session(spec=)", spec, (str, os.PathLike, DeploySpec),
                            "a path (str or Path), a DeploySpec or None")
        if not isinstance(backend, str):
            raise UserError("Session(backend=): expected a name like 'auto' or 'onnxruntime', got {}".format(
                type(backend).__name__))
        path, self.spec = _resolve(model, spec, backend)
        if not path.exists():
            raise UserError("model file {} does not exist".format(path))
        self.path = path
        self.backend_name = choose_backend(path, backend)
        logger.debug("opening %s with %s", path, self.backend_name)
        self._backend: Backend = _load_backend_class(self.backend_name)(str(path), spec=self.spec, **options)
        self.inputs: List[TensorInfo] = self._with_spec_layouts(self._backend.inputs)
        self.outputs: List[TensorInfo] = list(self._backend.outputs)
        preprocess = self.spec.preprocess if self.spec is not None else None
        self._adapters = {i.name: InputAdapter(i, preprocess) for i in self.inputs}
        self._input_names = [i.name for i in self.inputs]
        self._input_set = set(self._input_names)
        self._output_names = [o.name for o in self.outputs]

    def _with_spec_layouts(self, infos: Sequence[TensorInfo]) -> List[TensorInfo]:
        if self.spec is None or self._backend.reports_device_layouts:
            return list(infos)
        out = []
        for info in infos:
            declared = self.spec.input(info.name)
            out.append(TensorInfo(info.name, info.shape, info.dtype, declared.layout) if declared else info)
        return out

    # ------------------------------------------------------------------------------------------------
    def run(self, feeds: Feeds, outputs: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
        """Run once. `feeds`: {name: array}, [array, ...] in input order, or one array for a one-input model."""
        self._refuse_unless_runnable()
        names = self._output_names if outputs is None else self._check_outputs(outputs)
        results = self._backend.run(self._adapted(feeds), None if outputs is None else names)
        return dict(zip(names, results))

    def run_many(self, feeds: Iterable[Feeds], outputs: Optional[Sequence[str]] = None
                 ) -> Iterator[Dict[str, np.ndarray]]:
        """run() over an iterable of feeds, lazily, one result dict per feeds in the same order. On the acl
        backend the device computes one request while the next is copied in (and the iterable produces the
        one after: decode it there and decoding overlaps the NPU); elsewhere it is the plain loop."""
        self._refuse_unless_runnable()
        if isinstance(feeds, (np.ndarray, Mapping, str, bytes, os.PathLike)) or not isinstance(feeds, abc.Iterable):
            raise UserError("Session.run_many: expected an iterable of feeds (one per run), got {}".format(
                type(feeds).__name__), hint="for one run use Session.run")
        names = self._output_names if outputs is None else self._check_outputs(outputs)
        adapted = (self._adapted(f) for f in feeds)
        return (dict(zip(names, results)) for results in
                self._backend.run_many(adapted, None if outputs is None else names))

    def _refuse_unless_runnable(self) -> None:
        if getattr(self, "_backend", None) is None:
            raise UserError("this Session is closed", hint="open a new Session, or run inside its `with` block")
        from ..ascend.contract import DYNAMIC_AIPP_INPUT, dynamic_aipp_refused

        if DYNAMIC_AIPP_INPUT in self._input_set:
            raise dynamic_aipp_refused("omdeploy's Session")

    def _adapted(self, feeds: Feeds) -> Dict[str, Any]:
        if feeds is None or isinstance(feeds, (str, bytes, os.PathLike)):
            raise UserError("Session.run: expected a numpy array, a list of arrays or a {{name: array}} dict, got {}"
                            .format(type(feeds).__name__),
                            hint="decode an image first (omdeploy.images.load_image) or use a task"
                            if isinstance(feeds, (str, os.PathLike)) else None)
        named = {name: _native(name, value, self._adapters[name].info) for name, value in
                 self._name_feeds(feeds).items()}
        with np.errstate(over="ignore", invalid="ignore"):  # an fp16 overflow is warned about once, above
            return {name: value if _on_device(value) else self._adapters[name](value) for name, value in named.items()}

    def _name_feeds(self, feeds: Feeds) -> Dict[str, Any]:
        names = self._input_names
        if type(feeds) is dict and feeds.keys() == self._input_set:  # the common case, checked cheaply
            return feeds
        if isinstance(feeds, np.ndarray):
            feeds = [feeds]
        if isinstance(feeds, Mapping):
            unknown = [k for k in feeds if k not in self._adapters]
            if unknown:
                raise UserError("unknown input {!r}{}; the model's inputs are: {}".format(
                    unknown[0], did_you_mean(unknown[0], names), one_of(names)))
            missing = [n for n in names if n not in feeds]
            if missing:
                raise UserError("missing input {!r}; the model's inputs are: {}".format(missing[0], one_of(names)))
            return dict(feeds)
        feeds = list(feeds)
        if len(feeds) != len(names):
            raise UserError("expected {} input array{} ({}), got {}".format(
                len(names), "" if len(names) == 1 else "s", one_of(names), len(feeds)))
        return dict(zip(names, feeds))

    def _check_outputs(self, outputs: Sequence[str]) -> List[str]:
        for name in outputs:
            if name not in self._output_names:
                raise UserError("unknown output {!r}{}; the model's outputs are: {}".format(
                    name, did_you_mean(name, self._output_names), one_of(self._output_names)))
        return list(outputs)

    @property
    def backend(self) -> Backend:
        """The backend instance, for backend-specific facts (e.g. the acl backend's stage timings)."""
        return self._backend

    # ------------------------------------------------------------------------------------------------
    def describe(self) -> Dict[str, Any]:
        return {"model": str(self.path), "backend": self.backend_name,
                "inputs": [i.to_dict() for i in self.inputs], "outputs": [o.to_dict() for o in self.outputs],
                **self._backend.describe()}

    def close(self) -> None:
        backend, self._backend = getattr(self, "_backend", None), None  # type: ignore[assignment]
        if backend is not None:
            backend.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "Session({!r}, backend={!r})".format(str(self.path), self.backend_name)
