"""What every task offers the batch runner, and how a task's spec and session are opened.

A task splits one image's work in two: `prepare(image)` (resize, normalise; thread-safe, runs in worker
threads) and `infer(prepared)` (the model call(s) and post-processing; runs in the inference thread).
Results are plain JSON-ready dicts in source-image pixel coordinates.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import UserError, did_you_mean, one_of
from ..spec import DeploySpec, PreprocessSpec
from ..presets import DEFAULT_PRESET, PRESETS, preset_from_metadata
from .preprocess import Geometry, ImagePreprocessor

ModelRef = Union[str, os.PathLike, DeploySpec]
SPEC_SUFFIXES = (".yaml", ".yml", ".json")


class Task:
    name = "task"  # also the spec task its bare models get a preprocessing preset for

    def prepare(self, image: np.ndarray) -> Any:
        raise NotImplementedError

    def infer(self, prepared: Any) -> Dict[str, Any]:
        raise NotImplementedError

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
        self.labels = (list(labels) if labels is not None else self.spec.label_names()
                       or labels_from_metadata(model_metadata(self.session.path)))

    def prepare(self, image: np.ndarray) -> Tuple[np.ndarray, Geometry]:
        return self.preprocess(image)

    def label(self, index: int) -> str:
        labels = self.labels
        return labels[index] if labels is not None and 0 <= index < len(labels) else str(int(index))
