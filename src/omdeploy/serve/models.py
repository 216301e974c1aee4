"""A served model: its task (the objects `omdeploy run` uses), its session and its micro-batcher."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, cast

import numpy as np

from ..errors import UserError
from ..runtime.gears import pad_batch
from .batcher import MicroBatcher

V2_DTYPES = {"BOOL": "bool", "UINT8": "uint8", "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
             "FP16": "float16", "FP32": "float32", "FP64": "float64"}
NP_TO_V2 = {v: k for k, v in V2_DTYPES.items()}


def parse_model_arg(text: str) -> Tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep:
        path, name = text, Path(text).name.split(".")[0]
    return name, Path(path)


class ServedModel:
    def __init__(self, name: str, path: Path, task: str, max_batch: int, delay_ms: float, queue_size: int,
                 backend: str = "auto", threads: Optional[int] = None):
        from ..tasks.factory import make_task

        options = dict(top_k=5, head="yolov8", conf=0.25, iou=0.45, rec=None, cls=None, preset=None, labels=None,
                       backend=backend, threads=threads)
        self.name, self.path, self.task_name = name, path, task
        self.task: Any = cast(Any, make_task(task, path, options))  # a classify task: .session, .k, .labels
        self.session = self.task.session
        first = self.session.inputs[0]
        batch_dim = first.shape[0] if first.shape else 1
        self.batch_gear = batch_dim if isinstance(batch_dim, int) else None  # fixed batch: pad up to it
        gears = getattr(self.session.backend, "gears", None)  # an .om's batch gears: the acl backend pads to them
        self.largest_gear = gears.values[-1][0] if gears is not None and gears.mode == "batch" else None
        self.batchable = task == "classify" and len(self.session.inputs) == 1 and (
            self.batch_gear is None or self.batch_gear > 1)
        limit = min(max_batch, self.batch_gear or self.largest_gear or max_batch)
        if self.batchable and self.batch_gear is not None:
            # a fixed batch > 1: each request is prepared at batch 1, the batcher stacks and pads up to the model's
            from ..tasks.preprocess import ImagePreprocessor

            one = dataclasses.replace(first, shape=(1,) + tuple(first.shape[1:]))
            self.task.preprocess = ImagePreprocessor(one, self.task.spec.preprocess, self.task.spec)
        self.batcher = MicroBatcher(self._run_batch, limit if self.batchable else 1, delay_ms / 1000.0, queue_size,
                                    batchable=lambda kind: kind == "predict")

    def metadata(self) -> Dict[str, Any]:
        def t(info) -> Dict[str, Any]:
            return {"name": info.name, "datatype": NP_TO_V2.get(np.dtype(info.dtype).name, np.dtype(info.dtype).name),
                    "shape": [d if isinstance(d, int) else -1 for d in info.shape]}
        return {"name": self.name, "versions": ["1"], "platform": self.session.backend_name, "task": self.task_name,
                "inputs": [t(i) for i in self.session.inputs], "outputs": [t(o) for o in self.session.outputs]}

    def _run_batch(self, kind: str, payloads: List[Any]) -> Iterable[Any]:
        if kind == "tensors":
            return _stream(self.session.run_many, self.session.run, payloads)
        if not self.batchable or (len(payloads) == 1 and self.batch_gear is None):
            return _stream(self.task.infer_many, self.task.infer, payloads)
        from ..tasks.classify import top_k

        stacked = np.concatenate([p[0] for p in payloads])
        if self.batch_gear is not None and stacked.shape[0] < self.batch_gear:
            stacked = pad_batch(stacked, self.batch_gear)  # a fixed batch: as acl pads to a gear (which it does
            # itself for an .om with batch gears)
        scores = next(iter(self.session.run([stacked]).values()))
        return [{"top": top_k(scores[i], self.task.k, self.task.labels)} for i in range(len(payloads))]

    def tensors_from_v2(self, body: Any) -> Dict[str, np.ndarray]:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
            raise UserError("expected a JSON object with a non-empty 'inputs' list (Open Inference Protocol)")
        feeds = {}
        for entry in body["inputs"]:
            if not isinstance(entry, dict) or not {"name", "shape", "datatype", "data"} <= set(entry):
                raise UserError("each input needs name, shape, datatype and data")
            dtype = V2_DTYPES.get(str(entry["datatype"]))
            if dtype is None:
                raise UserError("unknown datatype {!r}; known: {}".format(entry["datatype"], ", ".join(V2_DTYPES)))
            shape = entry["shape"]
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise UserError("input {!r}: shape must be a list of non-negative integers".format(entry["name"]))
            try:
                array = np.asarray(entry["data"], dtype=dtype).reshape(shape)
            except (ValueError, TypeError) as exc:
                raise UserError("input {!r}: data does not fit shape {}: {}".format(entry["name"], shape,
                                                                                     str(exc)[:120])) from None
            info = next((i for i in self.session.inputs if i.name == entry["name"]), None)
            if info is not None:
                if len(shape) != len(info.shape) or any(isinstance(d, int) and d != s for d, s in zip(info.shape, shape)):
                    raise UserError("input {!r}: expected shape {}, got {}".format(info.name, info.shape_str(), shape))
                if np.dtype(info.dtype) != array.dtype:
                    raise UserError("input {!r}: expected {}, got {}".format(
                        info.name, NP_TO_V2.get(np.dtype(info.dtype).name), entry["datatype"]))
            feeds[str(entry["name"])] = array
        return feeds

    @staticmethod
    def v2_outputs(outputs: Dict[str, np.ndarray]) -> List[Dict[str, Any]]:
        return [{"name": k, "datatype": NP_TO_V2.get(v.dtype.name, v.dtype.name), "shape": list(v.shape),
                 "data": v.reshape(-1).tolist()} for k, v in outputs.items()]

    def close(self) -> None:
        self.batcher.close()
        self.task.close()


def _stream(many: Callable[[List[Any]], Iterable[Any]], one: Callable[[Any], Any], payloads: List[Any]
            ) -> Iterator[Any]:
    """many(payloads), lazily (Session.run_many: pipelined on the box). If the stream breaks, the requests it had
    not answered run one by one, so a bad request fails alone: its exception is its result."""
    done = 0
    try:
        for result in many(payloads):
            yield result
            done += 1
        return
    except Exception:  # which request broke it is found below, one call each
        pass
    for payload in payloads[done:]:
        try:
            yield one(payload)
        except Exception as exc:
            yield exc
