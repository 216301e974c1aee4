"""One worker thread per model: every model call runs there (one runtime, one thread), requests queued in a
bounded queue. When the model takes a batch, requests are stacked up to max_batch (or what came within
batch_delay) into one call; otherwise the requests already queued (up to `stream_max`) go through one
Session.run_many stream, so on the box the NPU computes one while the next is copied in, and each answer is
handed back as soon as it comes."""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Iterable, List, Optional, Tuple


class QueueFull(Exception):
    pass


class MicroBatcher:
    """submit(job) -> Future. A job is (kind, payload); `run_batch(kind, payloads)` gives one result each, in
    order, lazily; a result that is an exception fails its own request only."""

    def __init__(self, run_batch: Callable[[str, List[Any]], Iterable[Any]], max_batch: int = 1,
                 delay_s: float = 0.002, queue_size: int = 64, batchable: Callable[[str], bool] = lambda k: False,
                 stream_max: int = 8):
        self._run = run_batch
        self.max_batch = max(1, max_batch)
        self.delay_s = delay_s
        self.stream_max = max(1, stream_max)
        self._taken: Optional[Tuple[str, Any, Future, float]] = None  # taken from the queue, runs next
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
            first = self._taken if self._taken is not None else self._queue.get()
            self._taken = None
            if first is None:
                return
            if self.max_batch > 1 and self._batchable(first[0]):
                self._batch(first)
            else:
                self._stream(first)

    def _gather(self, first: Tuple[str, Any, Future, float], most: int,
                timeout: Optional[Callable[[], float]]) -> List[Tuple[str, Any, Future, float]]:
        """`first` and the queued jobs of its kind behind it, up to `most`: waiting up to timeout() for each, or
        taking only what is queued already (timeout None). A job of another kind is kept for the next round."""
        jobs = [first]
        while len(jobs) < most:
            try:
                nxt = self._queue.get_nowait() if timeout is None else self._queue.get(timeout=timeout())
            except queue.Empty:
                break
            if nxt is None:  # shutting down: leave the sentinel for the loop
                self._queue.put(None)
                break
            if nxt[0] != first[0]:
                self._taken = nxt
                break
            jobs.append(nxt)
        return jobs

    def _batch(self, first: Tuple[str, Any, Future, float]) -> None:
        deadline = time.perf_counter() + self.delay_s
        jobs = self._gather(first, self.max_batch, lambda: max(0.0, deadline - time.perf_counter()))
        start = time.perf_counter()
        wait = start - min(j[3] for j in jobs)
        try:
            results = list(self._run(first[0], [j[1] for j in jobs]))
        except BaseException as exc:  # one failing batch fails its requests; the worker goes on
            for j in jobs:
                j[2].set_exception(exc)
            return
        for j, r in zip(jobs, results):
            _settle(j[2], r)
        if self.on_batch is not None:
            self.on_batch(len(jobs), wait, time.perf_counter() - start)

    def _stream(self, first: Tuple[str, Any, Future, float]) -> None:
        """`first` and the jobs of its kind already queued behind it, through one stream; no waiting for more."""
        jobs = self._gather(first, self.stream_max, None)
        start = time.perf_counter()
        done = 0
        try:
            for job, result in zip(jobs, self._run(first[0], [j[1] for j in jobs])):
                _settle(job[2], result)
                now = time.perf_counter()
                if self.on_batch is not None:  # per request: a stream is not a batch
                    self.on_batch(1, start - job[3], now - start)
                start, done = now, done + 1
        except BaseException as exc:  # the stream itself failed: its unanswered requests fail with it
            for job in jobs[done:]:
                if not job[2].done():
                    job[2].set_exception(exc)


def _settle(future: Future, result: Any) -> None:
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
