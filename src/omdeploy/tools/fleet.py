"""`omdeploy run --ray`: the batch runner across a Ray cluster, writing the same resumable results.jsonl.

    summary = run_fleet("classify", Path("model.onnx"), options, ["photos/"], Path("out/results.jsonl"),
                        address="auto", actors=4)

Ray Data carries the work: the driver lists the inputs (videos split into frame ranges), CPU tasks decode them,
and an actor pool of tasks (one Session each; `resources={"NPU": K}` where the nodes offer NPUs, CPU actors
otherwise) prepares and infers. Results stream back to the driver, which alone writes results.jsonl, one line per
input, skipping any key it has written already: an actor that dies has its in-flight rows retried on another one
by Ray Data (actors restart and tasks retry by default), and a retried row is never written twice. An interrupted
run leaves complete lines that `--resume`, with or without `--ray`, completes.

Ray supports Ascend NPUs as the resource "NPU" since 2.9 (https://docs.ray.io/en/latest/ray-core/scheduling/accelerators.html).
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from .._json import json_default
from .._optional import require
from ..errors import UserError
from .runner import VIDEO_SUFFIXES, RunSummary, _error_text, open_results, plan_inputs

# Frames of one video handed to one decode task: big enough to amortise opening the file, small enough to spread.
FRAMES_PER_CHUNK = 64
NODE_KEY = "_omdeploy_node"
DECODE_CPUS = 0.5
NPU_ACTOR_CPUS = 0.5  # an NPU actor's own CPU work: preprocessing and postprocessing


@dataclass
class FleetSummary(RunSummary):
    actors: int = 0
    per_node: Dict[str, int] = field(default_factory=dict)   # node id -> inputs it ran
    seconds: float = 0.0

    def to_dict(self) -> Dict[str, Any]:
        data = super().to_dict()
        data["per_node"] = {node: {"inputs": n, "images_per_s": round(n / self.seconds, 2) if self.seconds else None}
                            for node, n in self.per_node.items()}
        return data


def _rows(files: Sequence[Path], stride: int, finished: Dict[str, bool]) -> Iterator[Dict[str, Any]]:
    """One row per image, one per frame range of a video (frames already finished are dropped when decoded)."""
    from .runner import video_frame_count

    for f in files:
        if f.suffix.lower() in VIDEO_SUFFIXES:
            frames = video_frame_count(f, stride) * stride
            for start in range(0, max(frames, 1), FRAMES_PER_CHUNK * stride):
                yield {"path": str(f), "video": True, "start": start, "stop": start + FRAMES_PER_CHUNK * stride}
        elif str(f) not in finished:
            yield {"path": str(f), "video": False, "start": 0, "stop": 0}


def _decode(row: Dict[str, Any], stride: int, finished: Sequence[str]) -> List[Dict[str, Any]]:
    """A row of the listing -> decoded inputs: {key, image (RGB uint8 HWC) or error}."""
    from ..tasks.image import load_image
    from .runner import video_frames

    path = Path(row["path"])
    if not row["video"]:
        try:
            return [{"key": str(path), "image": load_image(path), "error": ""}]
        except Exception as exc:
            return [{"key": str(path), "image": None, "error": _error_text(exc)}]
    out: List[Dict[str, Any]] = []
    done = set(finished)
    for index, item in enumerate(video_frames(path, stride)):
        frame = index * stride
        if "#frame=" in item.key and not row["start"] <= frame < row["stop"]:
            if frame >= row["stop"]:
                break
            continue
        if "#frame=" not in item.key and row["start"] != 0:  # an unreadable video is reported by its first chunk
            break
        if item.key in done:
            continue
        try:
            out.append({"key": item.key, "image": item.load(), "error": ""})
        except Exception as exc:
            out.append({"key": item.key, "image": None, "error": _error_text(exc)})
    return out


class _Infer:
    """The actor: one task (and so one Session on its NPU) for its whole life. Subclassed per run with the task's
    arguments as class attributes (see _actor_class), so that no constructor arguments go through the object store,
    where an actor restarted after its node died could no longer find them (ray-project/ray#53727)."""

    args: tuple = ()

    def __init__(self) -> None:
        import ray

        from ..tasks.factory import make_task

        name, model, options = self.args
        if not Path(model).exists():
            raise UserError("{} does not exist on node {}".format(model, ray.get_runtime_context().get_node_id()),
                            hint="the model must be at the same path on every node (shared storage or a copy)")
        self.task = make_task(name, Path(model), options)
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, row: Dict[str, Any]) -> Dict[str, Any]:
        record: Dict[str, Any]
        if row["error"]:
            record = {"input": row["key"], "ok": False, "task": self.task.name, "error": row["error"]}
        else:
            try:
                record = {"input": row["key"], "ok": True, "task": self.task.name,
                          "result": self.task.infer(self.task.prepare(np.asarray(row["image"])))}
            except Exception as exc:  # one bad input is one error line, as in the local runner
                record = {"input": row["key"], "ok": False, "task": self.task.name, "error": _error_text(exc)}
        return {"line": json.dumps(record, ensure_ascii=False, default=json_default), NODE_KEY: self.node}


def _actor_class(name: str, model: str, options: Dict[str, Any]) -> type:
    return type("OmdeployInfer", (_Infer,), {"args": (name, model, dict(options))})


def _quiet(ray: Any) -> None:
    """Ray Data's progress lines and per-dataset INFO logs would bury omdeploy's own progress bar."""
    import logging

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    if hasattr(context, "print_on_execution_start"):
        context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def connect(address: str = "auto") -> Any:
    """Connect to the cluster at `address` ("auto": RAY_ADDRESS or a running local cluster, else start one)."""
    ray = require("ray", "running on a Ray cluster (omdeploy run --ray)")
    if ray.is_initialized():
        return ray
    kwargs: Dict[str, Any] = dict(logging_level="ERROR", log_to_driver=False, include_dashboard=False)
    if address == "auto":
        try:
            ray.init(address="auto", **kwargs)
        except ConnectionError:
            ray.init(**kwargs)
    else:
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise UserError("cannot reach the Ray cluster at {}: {}".format(address, str(exc).splitlines()[0]),
                            hint="start it with `ray start --head` (docs/fleet.md), or --ray auto") from None
    return ray


def _npus_available(ray: Any) -> float:
    return float(ray.cluster_resources().get("NPU", 0))


def run_fleet(name: str, model: Union[str, os.PathLike], options: Dict[str, Any],
              inputs: Sequence[Union[str, os.PathLike]], results: Union[str, os.PathLike], resume: bool = False,
              stride: int = 1, address: str = "auto", actors: Optional[int] = None, npus_per_actor: float = 1,
              on_record: Optional[Callable[[Dict[str, Any]], None]] = None,
              identity: Optional[Dict[str, Any]] = None) -> FleetSummary:
    """Run task `name` of `model` over `inputs` on a Ray cluster; see the module docstring. `identity` (from
    runner.run_identity) is checked on resume and recorded, exactly as the local runner does, so either can resume
    the other's results."""
    results = Path(results)
    with open_results(results, resume, identity) as finished:
        return _run_locked(name, Path(model).resolve(), options, inputs, results, resume, finished, stride, address,
                           actors, npus_per_actor, on_record)


def _run_locked(name: str, model: Path, options: Dict[str, Any], inputs: Sequence[Union[str, os.PathLike]],
                results: Path, resume: bool, finished: Dict[str, bool], stride: int, address: str,
                actors: Optional[int], npus_per_actor: float,
                on_record: Optional[Callable[[Dict[str, Any]], None]]) -> FleetSummary:
    files, _ = plan_inputs(inputs, stride, exclude=[results, results.parent / "annotated"])
    ray = connect(address)
    npus = _npus_available(ray)
    if actors is None:
        actors = max(1, int(npus // npus_per_actor)) if npus else 1
    if actors < 1:
        raise UserError("--actors must be at least 1, got {}".format(actors))
    # Actors must leave CPU for the decode tasks, or Ray never schedules them and the run waits forever.
    cpus = float(ray.cluster_resources().get("CPU", 1))
    remote: Dict[str, Any] = {"num_cpus": max(0.01, min(1.0, (cpus - DECODE_CPUS) / actors)), "num_gpus": 0}
    if npus:
        remote["num_cpus"] = min(remote["num_cpus"], NPU_ACTOR_CPUS)
        if npus_per_actor * actors > npus:
            raise UserError("{} actors x {} NPU need {} NPUs; the cluster has {:g}".format(
                actors, npus_per_actor, npus_per_actor * actors, npus),
                hint="fewer --actors, or --npus-per-actor below 1 to share a card")
        remote["resources"] = {"NPU": npus_per_actor}
    summary = FleetSummary(str(results), failed=sum(not ok for ok in finished.values()), actors=actors)
    summary.skipped = len(finished)
    rows = list(_rows(files, stride, finished))
    written = set(finished)
    counts: Counter = Counter()
    started = time.perf_counter()
    with open(results, "a" if resume else "w", encoding="utf-8") as out:
        if rows:
            data = require("ray.data", "running on a Ray cluster (omdeploy run --ray)")
            _quiet(ray)
            done_keys = sorted(finished)
            # decode_cpus differs from the actors' CPUs, so Ray Data keeps decoding in tasks of its own instead of
            # fusing it into the actors: decoding spreads over every node's cores while the actors infer
            dataset = (data.from_items(rows, override_num_blocks=min(len(rows), max(1, actors * 4)))
                       .flat_map(_decode, fn_kwargs={"stride": stride, "finished": done_keys}, num_cpus=DECODE_CPUS)
                       .map(_actor_class(name, str(model), options), compute=data.ActorPoolStrategy(size=actors),
                            **remote))
            for row in dataset.iter_rows():
                record = json.loads(row["line"])
                if record["input"] in written:
                    continue  # a row retried after its actor died, already written
                written.add(record["input"])
                out.write(row["line"] + "\n")
                out.flush()
                counts[row[NODE_KEY]] += 1
                summary.processed += 1
                summary.failed += not record["ok"]
                if on_record is not None:
                    on_record(record)
    summary.seconds = time.perf_counter() - started
    summary.per_node = dict(counts)
    summary.inputs = summary.processed + summary.skipped
    return summary
