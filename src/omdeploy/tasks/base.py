"""What every task offers the batch runner, and how a task's spec and session are opened.

A task splits one image's work in two: `prepare(image)` (resize, normalise; thread-safe, runs in worker
threads) and `infer(prepared)` (the model call(s) and post-processing; runs in the inference thread).
`infer_many(prepared_iterable)` is infer() over a stream, results in order: a one-model task splits infer()
into `feeds(prepared)` and `finish(prepared, outputs)` and runs the stream through `Session.run_many`, so on
the box the NPU computes one input while the next is copied in and the one after is decoded.
Results are plain JSON-ready dicts in source-image pixel coordinates.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from collections import deque
from typing import Any, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import UserError, did_you_mean, one_of
from ..spec import SPEC_SUFFIXES, DeploySpec, PreprocessSpec
from ..presets import DEFAULT_PRESET, PRESETS, preset_from_metadata
from .preprocess import Geometry, ImagePreprocessor

ModelRef = Union[str, os.PathLike, DeploySpec]


class Task:
    name = "task"  # also the spec task its bare models get a preprocessing preset for

    def prepare(self, image: np.ndarray) -> Any:
        raise NotImplementedError

    def infer(self, prepared: Any) -> Dict[str, Any]:
        raise NotImplementedError

    def infer_many(self, prepared: Iterable[Any]) -> Iterator[Dict[str, Any]]:
        """infer() over many prepared inputs, lazily, results in order. This default is the plain loop (a task
        of several model calls per input, such as OCR, cannot pipeline one model across inputs)."""
        for one in prepared:
            yield self.infer(one)

    def prepare_file(self, path: Path) -> Optional[Any]:
        """prepare() straight from an image file where the task decodes files itself (`where: dvpp`), else None:
        the caller decodes the image and calls prepare()."""
        return None

    def file_summary(self) -> Optional[Dict[str, Any]]:
        """What prepare_file did (where: dvpp: files decoded on the device and on the host), None if nothing."""
        return None

    def __call__(self, image: np.ndarray) -> Dict[str, Any]:
        """One RGB uint8 image in, its result out."""
        return self.infer(self.prepare(image))

    def close(self) -> None:
        for session in self._sessions():
            session.close()

    def _sessions(self) -> List[Any]:
        return [v for v in vars(self).values() if hasattr(v, "run") and hasattr(v, "close")]

    def __enter__(self) -> "Task":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def preset(name: str) -> PreprocessSpec:
    if name not in PRESETS:
        raise UserError("unknown preprocessing preset {!r}{}; known: {}".format(
            name, did_you_mean(name, PRESETS), one_of(sorted(PRESETS))))
    return PreprocessSpec(**PRESETS[name])


def load_spec(model: ModelRef, task: str, preset_name: Optional[str] = None) -> DeploySpec:
    """A DeploySpec as given, loaded from YAML/JSON, or made for a bare model from a preprocessing preset.

    A spec's own `preprocess` wins; a preset named explicitly fills it in only when the spec has none.
    """
    if isinstance(model, DeploySpec):
        spec = model
    elif Path(model).suffix.lower() in SPEC_SUFFIXES:
        spec = DeploySpec.load(model)
    else:
        spec = DeploySpec.from_dict({"model": str(Path(model).resolve()), "task": task}, source="run options")
    if spec.preprocess is None:  # named, else the exporter's framework (Ultralytics metadata), else the task's
        name = preset_name or _exporter_preset(spec.model_path) or DEFAULT_PRESET[task]
        spec = dataclasses.replace(spec, preprocess=preset(name))
    return spec


def _exporter_preset(path: Path) -> Optional[str]:
    try:
        return preset_from_metadata(model_metadata(path))
    except UserError:  # opening the session says what is wrong with the file
        return None


def model_metadata(path: Path) -> Dict[str, str]:
    """metadata_props of an ONNX model ({} for other formats): labels often travel there. Read without the onnx
    package, which the box often does not have."""
    if path.suffix.lower() != ".onnx":
        return {}
    from ..onnx.metadata import read_metadata_props

    return read_metadata_props(path)


def labels_from_metadata(metadata: Dict[str, str]) -> Optional[List[str]]:
    """Class names from PaddlePaddle's `character` (one per line) or Ultralytics' `names` ({0: 'person', ...})."""
    if "character" in metadata:
        return metadata["character"].split("\n")
    if "names" in metadata:
        import ast

        try:
            names = ast.literal_eval(metadata["names"])
        except (ValueError, SyntaxError):
            return None
        if isinstance(names, dict):
            return [str(names[k]) for k in sorted(names)]
        return [str(n) for n in names]
    return None


def open_session(spec: DeploySpec, backend: str = "auto", **options: Any):
    from ..runtime.session import Session

    return Session(spec, backend=backend, **options)


class ImageTask(Task):
    """A one-model task on images: its spec, session, preprocessing and labels, opened one way for all."""

    def _open(self, model: ModelRef, preset: Optional[str], labels: Optional[Sequence[str]], backend: str,
              options: Dict[str, Any]) -> None:
        self.spec = load_spec(model, self.name, preset)
        self.session = open_session(self.spec, backend, **options)
        assert self.spec.preprocess is not None  # load_spec gives every task's spec a preprocess
        self.preprocess = ImagePreprocessor(self.session.inputs[0], self.spec.preprocess, self.spec)
        self.dvpp: Optional[Any] = None  # a tasks.dvpp_input.DvppInput where the spec says where: dvpp
        if self.preprocess.reads_dvpp:
            from .dvpp_input import DvppInput

            self.dvpp = DvppInput(self.session, self.preprocess.fixed_size())
        self.labels = (list(labels) if labels is not None else self.spec.label_names()
                       or labels_from_metadata(model_metadata(self.session.path)))

    def prepare(self, image: np.ndarray) -> Tuple[np.ndarray, Geometry]:
        return self.preprocess(image)

    def prepare_file(self, path: Path) -> Optional[Tuple[Any, Geometry]]:
        return None if self.dvpp is None else self.dvpp(path)

    def close(self) -> None:
        dvpp = getattr(self, "dvpp", None)  # (getattr: close may run after a failed open, before dvpp was set)
        if dvpp is not None:  # its DVPP channel before the model's context goes
            dvpp.close()
        super().close()

    def file_summary(self) -> Optional[Dict[str, Any]]:
        return None if self.dvpp is None else self.dvpp.summary()

    def feeds(self, prepared: Tuple[np.ndarray, Geometry]) -> List[np.ndarray]:
        return [prepared[0]]

    def finish(self, prepared: Tuple[np.ndarray, Geometry], outputs: Dict[str, np.ndarray]) -> Dict[str, Any]:
        """The result of one input from its prepared form and the model's outputs (by name, in output order)."""
        raise NotImplementedError

    def infer(self, prepared: Tuple[np.ndarray, Geometry]) -> Dict[str, Any]:
        return self.finish(prepared, self.session.run(self.feeds(prepared)))

    def infer_many(self, prepared: Iterable[Tuple[np.ndarray, Geometry]]) -> Iterator[Dict[str, Any]]:
        in_flight: Deque[Tuple[np.ndarray, Geometry]] = deque()  # handed to run_many, result not yet back

        def feeds() -> Iterator[List[np.ndarray]]:
            for one in prepared:
                in_flight.append(one)
                yield self.feeds(one)

        runs = self.session.run_many(feeds())
        try:
            for outputs in runs:
                yield self.finish(in_flight.popleft(), outputs)
        finally:
            runs.close()  # now, not at garbage collection: the acl backend holds its model until then

    def label(self, index: int) -> str:
        labels = self.labels
        return labels[index] if labels is not None and 0 <= index < len(labels) else str(int(index))
