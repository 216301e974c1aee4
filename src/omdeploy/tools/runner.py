"""The batch runner: a task over image files, folders and videos, pipelined, streaming resumable JSONL.

    with Classifier("deploy.yaml") as task:
        summary = run_batch(task, ["photos/", "clip.avi"], Path("out/results.jsonl"), resume=True)

A producer thread walks the inputs (and decodes video frames) and hands each one to a pool of worker
threads that decode and preprocess it; a bounded queue keeps the producer at most `queue_size` inputs ahead.
The calling thread runs inference through `Task.infer_many` (Session.run_many: on the box the NPU computes
one input while the next is copied in; onnxruntime releases the GIL, so the workers keep decoding meanwhile)
and writes one JSON line per input as soon as it has it, in input order. A bad input becomes one error line.
`resume=True` keeps the lines already written (dropping a last line cut short by an interrupt) and skips
their inputs.
"""
from __future__ import annotations

import functools

import contextlib
from collections import deque
import json
import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .._json import json_default
from ..errors import OmdeployError, UserError
from ..fileio import file_sha256, user_error_for, write_text
from ..log import logger
from ..tasks.base import Task
from ..tasks.image import IMAGE_SUFFIXES, files_with_suffixes, load_image
from ..spec import SPEC_SUFFIXES

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


@dataclass
class Item:
    key: str                             # the input's name in the JSONL: a path, or "video.avi#frame=120"
    load: Callable[[], np.ndarray]       # decodes it to RGB uint8 HWC
    path: Optional[Path] = None          # an image file's path (a task may decode the file itself: where: dvpp)


@dataclass
class RunSummary:
    results: str
    inputs: int = 0       # inputs found this time (including the skipped ones)
    processed: int = 0    # inputs run this time
    skipped: int = 0      # already in the JSONL (--resume)
    failed: int = 0       # error lines in the whole JSONL
    # where: dvpp: files decoded on the device and on the host this time, and why (None for other specs)
    decoding: Optional[Dict[str, Any]] = None

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> Dict[str, Any]:
        return dict(vars(self), ok=self.ok)


def inference_threads(workers: int) -> int:
    """Intra-op threads for the inference thread while `workers` threads decode beside it: all cores but one.

    A runtime that takes every core stalls whenever a decoder thread holds one of them (its parallel sections
    wait for their slowest thread), so the pipeline leaves the decoders a core of their own.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1) if workers > 0 else cores


# ---- inputs -----------------------------------------------------------------------------------------

def _cv2():
    from .._optional import require

    return require("cv2", "reading video files")


def _failing(message: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        raise UserError(message)
    return load


def video_frame_count(path: Path, stride: int) -> int:
    capture = _cv2().VideoCapture(str(path))
    try:
        frames = int(capture.get(_cv2().CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    finally:
        capture.release()
    return max(1, (frames + stride - 1) // stride)


def _bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[..., ::-1])


def video_frames(path: Path, stride: int = 1) -> Iterator[Item]:
    """Every `stride`-th frame; frames in between are only grabbed, not decoded."""
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        yield Item(str(path), _failing("{} cannot be opened as a video".format(path)))
        return
    try:
        index = 0
        while capture.grab():
            if index % stride == 0:
                ok, frame = capture.retrieve()
                key = "{}#frame={}".format(path, index)
                if ok:
                    yield Item(key, functools.partial(_bgr_to_rgb, frame))
                else:
                    yield Item(key, _failing("{} frame {} cannot be decoded".format(path, index)))
            index += 1
        if index == 0:  # opened, but not one frame: an empty or cut-short file must not vanish from the results
            yield Item(str(path), _failing("{} has no frame that can be read (empty or cut short?)".format(path)))
    finally:
        capture.release()


def plan_inputs(paths: Sequence[Union[str, os.PathLike]], stride: int = 1,
                exclude: Sequence[Union[str, os.PathLike]] = ()) -> Tuple[List[Path], int]:
    """The files to run (folders searched recursively for images and videos) and the expected input count.
    Files under `exclude` (the run's own --out: annotated images, results) are never taken as inputs."""
    if stride < 1:
        raise UserError("the frame stride must be at least 1, got {}".format(stride))
    files = files_with_suffixes(paths, IMAGE_SUFFIXES + VIDEO_SUFFIXES, what="images or videos")
    if exclude:
        own = [Path(e).resolve() for e in exclude]
        kept = [f for f in files if not any(o == f.resolve() or o in f.resolve().parents for o in own)]
        if len(kept) < len(files):
            logger.info("left out %d file(s) under %s: omdeploy's own outputs are not inputs", len(files) - len(kept),
                        ", ".join(map(str, exclude)))
        if not kept:
            raise UserError("every input is inside the output folder {}".format(", ".join(map(str, exclude))),
                            hint="give -o a folder outside the inputs")
        files = kept
    total = sum(video_frame_count(f, stride) if f.suffix.lower() in VIDEO_SUFFIXES else 1 for f in files)
    return files, total


def iter_items(files: Sequence[Path], stride: int = 1) -> Iterator[Item]:
    for f in files:
        if f.suffix.lower() in VIDEO_SUFFIXES:
            yield from video_frames(f, stride)
        else:
            yield Item(str(f), functools.partial(load_image, f), f)


# ---- the JSONL --------------------------------------------------------------------------------------

def read_finished(path: Path) -> Dict[str, bool]:
    """{input: ok} of the complete lines of a results file; a last line cut short is cut off the file."""
    if not path.exists():
        return {}
    data = path.read_bytes()
    finished: Dict[str, bool] = {}
    complete = data.rfind(b"\n") + 1
    for number, line in enumerate(data[:complete].splitlines(), 1):
        try:
            record = json.loads(line)
            finished[record["input"]] = bool(record.get("ok"))
        except (ValueError, KeyError, TypeError):
            logger.warning("%s line %d is not a result line; its input will run again", path, number)
    if complete < len(data):
        logger.warning("%s: dropped a last line cut short (%d bytes) by an interrupt", path, len(data) - complete)
        with open(path, "r+b") as f:
            f.truncate(complete)
    return finished


# ---- who wrote the results: the identity sidecar and the lock on --out -----------------------------------

IDENTITY_SUFFIX = ".identity.json"
# what decides the results: a resumed run must agree on these; threads, workers, backend choice do not
_COMPARED = ("model_sha256", "spec_sha256", "task")


def run_identity(model: Union[str, os.PathLike], task: str, options: Optional[Dict[str, Any]] = None
                 ) -> Dict[str, Any]:
    """What produced a results file: the model (and spec) by sha256, the task and its options."""
    model = Path(model)
    identity: Dict[str, Any] = {"model": str(model), "task": task, "spec_sha256": None}
    if model.suffix.lower() in SPEC_SUFFIXES:
        from ..spec import DeploySpec

        identity["spec_sha256"] = file_sha256(model)
        weights = DeploySpec.load(model).model_path
        identity["model_sha256"] = file_sha256(weights) if weights.is_file() else None
    else:
        identity["model_sha256"] = file_sha256(model) if model.is_file() else None
    identity["options"] = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in (options or {}).items()}
    return identity


def identity_path(results: Path) -> Path:
    return results.with_name(results.name + IDENTITY_SUFFIX)


def check_identity(results: Path, identity: Dict[str, Any]) -> None:
    """--resume onto results another model, spec or task wrote is refused, saying which differs."""
    sidecar = identity_path(results)
    if not sidecar.is_file():
        if results.is_file() and results.stat().st_size:
            logger.warning("%s has no identity record (%s); resuming on trust", results, sidecar.name)
        return
    try:
        before = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError("{} is unreadable ({}); cannot tell what wrote {}".format(sidecar, exc, results),
                        hint="run without --resume to start over, or use another --out") from None
    differ = [k for k in _COMPARED if before.get(k) != identity.get(k)]
    changed = {k for k in set(before.get("options", {})) | set(identity.get("options", {}))
               if before.get("options", {}).get(k) != identity.get("options", {}).get(k)}
    differ += sorted("option " + k for k in changed if k not in ("threads", "workers", "queue", "backend"))
    if differ:
        what = differ[0].replace("_sha256", "")
        raise UserError("--resume: {} was written with another {} ({}); its results are not this run's".format(
            results, what, ", ".join(d.replace("_sha256", "") for d in differ)),
            hint="run without --resume to start over, or use another --out")


@contextlib.contextmanager
def locked_folder(folder: Path):
    """An advisory lock on --out, so a second run on the same folder refuses instead of duplicating lines."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one run per folder is then on the user
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".omdeploy.lock", "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UserError("another omdeploy run is writing {}".format(folder),
                            hint="wait for it to finish, or give this run another --out") from None
        yield
    finally:
        handle.close()


@contextlib.contextmanager
def open_results(results: Path, resume: bool, identity: Optional[Dict[str, Any]]) -> Iterator[Dict[str, bool]]:
    """Lock the results' folder, check (on resume) and record who writes them; yields {input: ok} already done.
    The local runner and the fleet share it, so either can resume the other's results."""
    results.parent.mkdir(parents=True, exist_ok=True)
    with locked_folder(results.parent):
        if resume and identity is not None:
            check_identity(results, identity)
        finished = read_finished(results) if resume else {}
        if identity is not None:
            write_text(identity_path(results), json.dumps(identity, indent=2, default=json_default) + "\n")
        yield finished


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, OmdeployError):
        return exc.message
    return "{}: {}".format(type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")


# ---- the pipeline -----------------------------------------------------------------------------------

def _prepare(task: Task, item: Item, keep_image: bool) -> Tuple[Optional[np.ndarray], Any]:
    prepared = task.prepare_file(item.path) if item.path is not None else None
    if prepared is None:
        image = item.load()
        return (image if keep_image else None), task.prepare(image)
    return (item.load() if keep_image else None), prepared


def run_batch(task: Task, inputs: Sequence[Union[str, os.PathLike]], results: Union[str, os.PathLike],
              resume: bool = False, stride: int = 1, workers: int = 2, queue_size: int = 32,
              on_record: Optional[Callable[[Dict[str, Any]], None]] = None,
              annotate: Optional[Callable[[np.ndarray, Dict[str, Any], str], None]] = None,
              files: Optional[List[Path]] = None, identity: Optional[Dict[str, Any]] = None) -> RunSummary:
    """Run `task` over the inputs, one JSON line per input in `results`. `annotate(image, record, key)` is
    called for each good input when given. `files` skips the input search when the caller already did it.

    Lines are written in input order, so one slow input holds up the writing of those after it: `queue_size`
    inputs may be prepared ahead, enough that a run of large images does not leave the workers idle (it
    bounds memory at about `queue_size` prepared inputs)."""
    results = Path(results)
    if files is None:
        files, _ = plan_inputs(inputs, stride, exclude=[results, results.parent / "annotated"])
    with open_results(results, resume, identity) as finished:
        return _run_locked(task, files, results, resume, finished, stride, workers, queue_size, on_record, annotate)


def _run_locked(task: Task, files: List[Path], results: Path, resume: bool, finished: Dict[str, bool], stride: int,
                workers: int, queue_size: int, on_record: Optional[Callable[[Dict[str, Any]], None]],
                annotate: Optional[Callable[[np.ndarray, Dict[str, Any], str], None]]) -> RunSummary:
    summary = RunSummary(str(results), skipped=0, failed=sum(not ok for ok in finished.values()))
    pending: "queue.Queue[Optional[Tuple[Item, Future]]]" = queue.Queue(maxsize=max(1, queue_size))
    stop = threading.Event()
    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="omdeploy-prepare")
    # the producer refills the queue once it is half empty, not after every input: each wake-up takes the GIL
    # from the decoders, and on a busy machine each such handoff waits for the scheduler
    low = max(1, queue_size) // 2
    drained = threading.Event()

    def put(entry: Optional[Tuple[Item, Future]]) -> bool:
        while not stop.is_set():
            try:
                pending.put_nowait(entry)
                return True
            except queue.Full:
                drained.clear()
                if pending.qsize() > low:  # else the consumer drained it meanwhile: try again now
                    drained.wait(0.1)
        return False

    def produce() -> None:
        try:
            for item in iter_items(files, stride):
                summary.inputs += 1
                if item.key in finished:
                    summary.skipped += 1
                    continue
                if not put((item, pool.submit(_prepare, task, item, annotate is not None))):
                    return
        except Exception as exc:  # a broken input listing must not hang the consumer
            failed: Future = Future()
            failed.set_exception(exc)
            put((Item("<inputs>", _failing(str(exc))), failed))
        finally:
            put(None)

    producer = threading.Thread(target=produce, name="omdeploy-inputs", daemon=True)
    producer.start()

    def entries() -> Iterator[Tuple[Item, Future]]:
        while True:
            entry = pending.get()
            if pending.qsize() <= low:
                drained.set()
            if entry is None:
                return
            yield entry

    existed = results.exists() and results.stat().st_size > 0
    try:
        with open(results, "a" if resume else "w", encoding="utf-8") as out:
            def write(record: Dict[str, Any]) -> None:
                out.write(json.dumps(record, ensure_ascii=False, default=json_default) + "\n")
                out.flush()
                summary.processed += 1
                summary.failed += not record["ok"]
                if on_record is not None:
                    on_record(record)

            _infer_in_order(task, entries(), write, annotate)
    except OSError as exc:  # a full disk: what was written stays (resumable), an empty file goes
        if not existed and results.exists() and results.stat().st_size == 0:
            results.unlink()
        raise user_error_for(exc, results) from None
    finally:
        stop.set()
        _drain(pending)
        producer.join()
        pool.shutdown(wait=True)
    summary.decoding = task.file_summary()
    return summary


@dataclass
class _Prepared:
    item: Item
    image: Optional[np.ndarray] = None
    prepared: Any = None
    error: Optional[Dict[str, Any]] = None  # the error line of an input that could not be prepared


def _infer_in_order(task: Task, entries: Iterator[Tuple[Item, Future]], write: Callable[[Dict[str, Any]], None],
                    annotate: Optional[Callable[[np.ndarray, Dict[str, Any], str], None]]) -> None:
    """Every entry's line through `write`, in input order: the prepared inputs go through `task.infer_many`
    (Session.run_many: pipelined on the box), an input that failed to prepare becomes its error line in its
    place. When the stream breaks on an input, the inputs it held are run one by one (so each gets its own
    line, the broken one its error) and the stream starts again after them: nothing is lost or written twice."""
    held: Deque[_Prepared] = deque()  # taken from `entries`, line not yet written

    def stream() -> Iterator[Any]:
        for item, future in entries:
            try:
                image, prepared = future.result()
            except Exception as exc:  # one bad input is one error line; the run goes on
                held.append(_Prepared(item, error=_error_line(task, item, exc)))
                continue
            held.append(_Prepared(item, image, prepared))
            yield prepared

    def write_failed_before_next() -> None:
        while held and held[0].error is not None:
            write(held.popleft().error or {})

    def run_alone(entry: _Prepared) -> None:
        if entry.error is not None:
            write(entry.error)
            return
        try:
            result = task.infer(entry.prepared)
        except Exception as exc:
            write(_error_line(task, entry.item, exc))
            return
        write(_result_line(task, entry, result, annotate))

    while True:
        prepared = stream()
        try:
            for result in task.infer_many(prepared):
                write_failed_before_next()
                write(_result_line(task, held.popleft(), result, annotate))
            write_failed_before_next()
            return
        except Exception as exc:
            logger.debug("the inference stream broke (%s); running the %d input(s) it held one by one",
                         _error_text(exc), len(held))
            if not held:  # it broke before taking an input: run the next one alone, so the run moves on
                try:
                    next(prepared)
                except StopIteration:
                    return
            while held:
                run_alone(held.popleft())


def _error_line(task: Task, item: Item, exc: BaseException) -> Dict[str, Any]:
    return {"input": item.key, "ok": False, "task": task.name, "error": _error_text(exc)}


def _result_line(task: Task, entry: _Prepared, result: Dict[str, Any],
                 annotate: Optional[Callable[[np.ndarray, Dict[str, Any], str], None]]) -> Dict[str, Any]:
    record = {"input": entry.item.key, "ok": True, "task": task.name, "result": result}
    if annotate is not None and entry.image is not None:
        try:
            annotate(entry.image, record, entry.item.key)
        except Exception as exc:
            logger.warning("%s: the annotated image was not written: %s", entry.item.key, _error_text(exc))
    return record


def _drain(pending: "queue.Queue[Optional[Tuple[Item, Future]]]") -> None:
    while True:
        try:
            entry = pending.get_nowait()
        except queue.Empty:
            return
        if entry is not None:
            entry[1].cancel()
