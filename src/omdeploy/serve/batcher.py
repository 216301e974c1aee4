"""One worker thread per model: every model call runs there (one runtime, one thread), requests queued in a
bounded queue and run together up to max_batch when the model takes a batch, or after batch_delay."""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, List, Optional, Tuple


class QueueFull(Exception):
    pass


class MicroBatcher:
    """submit(job) -> Future. A job is (kind, payload); `run_batch(kind, payloads)` returns one result each."""

    def __init__(self, run_batch: Callable[[str, List[Any]], List[Any]], max_batch: int = 1,
                 delay_s: float = 0.002, queue_size: int = 64, batchable: Callable[[str], bool] = lambda k: False):
        self._run = run_batch
        self.max_batch = max(1, max_batch)
        self.delay_s = delay_s
        self._batchable = batchable
        self._queue: "queue.Queue[Optional[Tuple[str, Any, Future, float]]]" = queue.Queue(maxsize=max(1, queue_size))
        self.on_batch: Optional[Callable[[int, float, float], None]] = None  # (size, queue wait, inference s)
        self._thread = threading.Thread(target=self._loop, name="omdeploy-serve-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def full(self) -> bool:
        return self._queue.full()

    def submit(self, kind: str, payload: Any) -> Future:
        future: Future = Future()
        try:
            self._queue.put_nowait((kind, payload, future, time.perf_counter()))
        except queue.Full:
            raise QueueFull() from None
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            if self.max_batch > 1 and self._batchable(first[0]):
                deadline = time.perf_counter() + self.delay_s
                while len(jobs) < self.max_batch:
                    try:
                        nxt = self._queue.get(timeout=max(0.0, deadline - time.perf_counter()))
                    except queue.Empty:
                        break
                    if nxt is None:
                        self._queue.put(None)
                        break
                    if nxt[0] != first[0]:
                        self._execute([nxt])
                        continue
                    jobs.append(nxt)
            self._execute(jobs)

    def _execute(self, jobs: List[Tuple[str, Any, Future, float]]) -> None:
        start = time.perf_counter()
        wait = start - min(j[3] for j in jobs)
        try:
            results = self._run(jobs[0][0], [j[1] for j in jobs])
        except BaseException as exc:  # one failing batch fails its requests; the worker goes on
            for j in jobs:
                j[2].set_exception(exc)
            return
        elapsed = time.perf_counter() - start
        for j, r in zip(jobs, results):
            j[2].set_result(r)
        if self.on_batch is not None:
            self.on_batch(len(jobs), wait, elapsed)
