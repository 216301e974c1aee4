"""Benchmark a model on one or more backends, side by side.

    results = bench_many("model.onnx", ["onnxruntime", "openvino"], iterations=50)

Per backend: load time, first-inference time, latency min / median / p90 / p99 / max, throughput, and the
host-to-device / compute / device-to-host split where the backend measures it (acl). As in OpenVINO's
benchmark_app and onnxruntime_perf_test: the first run is timed on its own, `warmup` further runs are
discarded, then `iterations` runs (or as many as `duration` seconds hold) are measured. Percentiles are
nearest-rank (sorted[ceil(n * p / 100) - 1]). A backend that fails is reported with its error and the
others still run, so a report is always complete.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import OmdeployError, UserError
from ..runtime.session import Session
from ..spec import DeploySpec
from .compare import random_samples

Progress = Callable[[int, Optional[int]], None]
DEFAULT_ITERATIONS = 100
STAGES = ("h2d", "compute", "d2h")


@dataclass
class BenchResult:
    backend: str
    model: str
    batch: int
    ok: bool = True
    error: Optional[str] = None
    load_ms: Optional[float] = None
    first_ms: Optional[float] = None
    iterations: int = 0
    latency_ms: Dict[str, float] = field(default_factory=dict)  # min, median, p90, p99, max, mean
    throughput: Optional[float] = None  # items (batch x runs) per second of inference
    stages_ms: Optional[Dict[str, float]] = None  # median h2d / compute / d2h, when the backend measures them
    # items per second through Session.run_many over as many runs: on acl copies overlap the NPU (pipelined
    # mode); elsewhere it is the same loop, so about `throughput`
    run_many_throughput: Optional[float] = None
    details: Dict[str, Any] = field(default_factory=dict)  # the backend's describe()

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    return ordered[max(0, math.ceil(len(ordered) * p / 100.0) - 1)]


def latency_stats(seconds: Sequence[float]) -> Dict[str, float]:
    ordered = sorted(s * 1000.0 for s in seconds)
    return {"min": ordered[0], "median": percentile(ordered, 50), "p90": percentile(ordered, 90),
            "p99": percentile(ordered, 99), "max": ordered[-1], "mean": float(np.mean(ordered))}


class BenchOptionError(UserError):
    """--shape / --batch that cannot fit the model: the same for every backend, so the command stops (exit 2)."""


def bench_inputs(session: Session, batch: int, shapes: Dict[str, List[int]], seed: int = 0) -> Dict[str, np.ndarray]:
    """Seeded random inputs of the model's dtypes, with `batch` in a dynamic first dim."""
    shapes = dict(shapes)
    names = [i.name for i in session.inputs]
    for name in shapes:
        if name not in names:
            raise BenchOptionError("--shape {}: the model has no input named {!r}; its inputs are: {}".format(
                name, name, ", ".join(names)))
    for info in session.inputs:
        if info.name in shapes:
            given = shapes[info.name]
            if len(given) != len(info.shape):
                raise BenchOptionError("--shape {}: expected {} dims like {}, got {}".format(
                    info.name, len(info.shape), info.shape_str(), ",".join(map(str, given))))
            if info.shape and not isinstance(info.shape[0], int) and given[0] != batch:
                raise BenchOptionError("--shape {}:{} feeds a batch of {} but --batch is {}".format(
                    info.name, ",".join(map(str, given)), given[0], batch),
                    hint="give the same batch to both: --batch {}".format(given[0]))
            continue
        if not info.shape:
            continue
        dims: List[Any] = list(info.shape)
        if not isinstance(dims[0], int):
            dims[0] = batch
        elif dims[0] != batch:
            raise UserError("input '{}' has a fixed batch of {}; --batch {} needs a model with a dynamic batch "
                            "dim".format(info.name, dims[0], batch),
                            hint="export the model with a dynamic batch (or --dynamic_batch_size gears for an .om)")
        shapes[info.name] = dims
    return random_samples(session.inputs, 1, seed, shapes, {})[0][1]


def _stage_seconds(session: Session) -> Optional[Dict[str, float]]:
    # only some backends split a run into copy / compute / copy (acl); the rest have no such attribute
    return getattr(session.backend, "stage_seconds", None) or None


def bench(model: Any, backend: str = "auto", batch: int = 1, warmup: int = 5, iterations: Optional[int] = None,
          duration: Optional[float] = None, spec: Union[None, str, DeploySpec] = None,
          shapes: Optional[Dict[str, List[int]]] = None, options: Optional[Dict[str, Any]] = None,
          progress: Optional[Progress] = None) -> BenchResult:
    """One backend. Never raises for a failing model or backend: the result carries the error."""
    if iterations is None and duration is None:
        iterations = DEFAULT_ITERATIONS
    result = BenchResult(backend, str(model), batch)
    clock = time.perf_counter
    try:
        started = clock()
        session = Session(model, backend=backend, spec=spec, **(options or {}))
        result.load_ms = (clock() - started) * 1000.0
        result.backend = session.backend_name
        with session:
            result.details = {k: v for k, v in session.describe().items() if k not in ("inputs", "outputs")}
            feeds = bench_inputs(session, batch, shapes or {})
            started = clock()
            session.run(feeds)
            result.first_ms = (clock() - started) * 1000.0
            for _ in range(warmup):
                session.run(feeds)
            latencies: List[float] = []
            stages: List[Dict[str, float]] = []
            begin = clock()
            while (iterations is None or len(latencies) < iterations) and (
                    duration is None or not latencies or clock() - begin < duration):
                started = clock()
                session.run(feeds)
                latencies.append(clock() - started)
                split = _stage_seconds(session)
                if split:
                    stages.append(split)
                if progress is not None:
                    progress(len(latencies), iterations)
            started = clock()
            for _ in session.run_many(feeds for _ in latencies):
                pass
            result.run_many_throughput = batch * len(latencies) / (clock() - started)
        result.iterations = len(latencies)
        result.latency_ms = latency_stats(latencies)
        result.throughput = batch * len(latencies) / sum(latencies)
        if stages:
            result.stages_ms = {s: float(np.median([x[s] for x in stages])) * 1000.0 for s in STAGES}
    except BenchOptionError:
        raise
    except OmdeployError as exc:
        result.ok, result.error = False, exc.message + (" ({})".format(exc.hint) if exc.hint else "")
    except Exception as exc:  # a runtime's own exception: reported in the row, the other backends still run
        result.ok, result.error = False, "{}: {}".format(type(exc).__name__, exc)
    return result


def bench_many(model: Any, backends: Sequence[str], progress_for: Optional[Callable[[str], Progress]] = None,
               **kwargs: Any) -> List[BenchResult]:
    return [bench(model, backend=b, progress=progress_for(b) if progress_for else None, **kwargs) for b in backends]
