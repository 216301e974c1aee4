"""omdeploy compare: metrics, thresholds, inputs, golden data, --layers, on real models and photos."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from omdeploy.errors import UserError
from omdeploy.tools import compare as cmp
from tests.runtime.test_sim import DET_MEAN, DET_STD, fp16_overflow_model

pytestmark = [pytest.mark.needs_onnx]

EFFNET_PRE = {"color": "rgb", "resize": "crop", "short_side": 256, "mean": [127.0], "std": [128.0]}
SWAP_RB_AIPP = """aipp_op {
    aipp_mode: static
    input_format: RGB888_U8
    rbuv_swap_switch: true
    mean_chn_0: 127
    mean_chn_1: 127
    mean_chn_2: 127
    var_reci_chn_0: 0.0078125
    var_reci_chn_1: 0.0078125
    var_reci_chn_2: 0.0078125
}
"""


def write_spec(path: Path, model: Path, **fields) -> Path:
    from omdeploy.spec import DeploySpec

    data = {"model": str(model), "inputs": [{"name": "input", "shape": [1, 3, 224, 224]}], "task": "classify",
            "preprocess": dict(EFFNET_PRE)}
    data.update(fields)
    DeploySpec.from_dict(data, source=str(path)).save(path)
    return path


def twenty_photos(assets) -> list:
    photos = sorted(p for p in assets("images").iterdir())
    photos += sorted(p for p in assets("opencv").iterdir() if p.suffix == ".jpg")[:20 - len(photos)]
    assert len(photos) == 20
    return photos


def as_args(paths) -> list:
    return [a for p in paths for a in ("-i", str(p))]


# ---- units ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("cosine>=0.999", cmp.Threshold("cosine", ">=", 0.999)),
    ("logits:max_abs<=0.05", cmp.Threshold("max_abs", "<=", 0.05, "logits")),
    ("sigmoid_0.tmp_0:rmse <= 1e-3", cmp.Threshold("rmse", "<=", 1e-3, "sigmoid_0.tmp_0")),
])
def test_threshold_parse(text, expected):
    assert cmp.Threshold.parse(text) == expected


@pytest.mark.parametrize("text, message", [("cosin>=0.9", "did you mean 'cosine'"), ("cosine=0.9", "expected"),
                                           ("cosine>=abc", "expected")])
def test_threshold_errors(text, message):
    with pytest.raises(UserError, match=message):
        cmp.Threshold.parse(text)


def test_thresholds_per_output_override_global_and_defaults():
    given = [cmp.Threshold.parse("cosine>=0.999"), cmp.Threshold.parse("maps:cosine>=0.9")]
    red = "RelativeEuclideanDistance<=0.05"
    assert {str(t) for t in cmp.thresholds_for("logits", given)} == {"cosine>=0.999", red, "top1>=1"}
    assert {str(t) for t in cmp.thresholds_for("maps", given)} == {"cosine>=0.9", red, "top1>=1"}


def test_output_metrics_on_known_numbers():
    ref = [np.array([[1.0, 2.0, 4.0, 0.5]], np.float32), np.array([[3.0, 1.0, 0.0, 2.0]], np.float32)]
    got = [np.array([[1.0, 2.5, 4.0, 0.5]], np.float32), np.array([[3.0, 1.0, 0.0, 2.0]], np.float32)]
    m = cmp.output_metrics(ref, got, classifier=True)
    assert m["max_abs"] == pytest.approx(0.5) and m["atol"] == m["max_abs"]
    assert m["mean_abs"] == pytest.approx(0.5 / 8)
    assert m["max_rel"] == pytest.approx(0.25) and m["rtol"] == m["max_rel"]
    assert m["rmse"] == pytest.approx(np.sqrt(0.25 / 8))
    assert m["cosine"] == pytest.approx(np.dot([1, 2, 4, .5], [1, 2.5, 4, .5]) / np.linalg.norm([1, 2, 4, .5])
                                        / np.linalg.norm([1, 2.5, 4, .5]))
    assert m["top1"] == 1.0 and m["top5"] == 1.0
    swapped = [np.array([[4.0, 2.0, 1.0, 0.5]], np.float32), got[1]]
    assert cmp.output_metrics(ref, swapped, classifier=True)["top1"] == 0.5
    zero_ref = cmp.output_metrics([np.zeros(3, np.float32)], [np.ones(3, np.float32)], classifier=False)
    assert zero_ref["rtol"] == np.inf and zero_ref["top1"] is None  # no rtol passes; not a classifier


def test_nonfinite_output_fails_whatever_the_thresholds():
    m = cmp.output_metrics([np.ones(4, np.float32)], [np.array([1, np.inf, 1, 1], np.float32)], classifier=False)
    assert m["nonfinite"] == 1 and np.isnan(m["cosine"])
    assert not cmp.OutputReport("y", m, []).passed


def test_rtol_threshold_fails_when_the_reference_has_zeros_the_target_does_not():
    ref, got = [np.array([0.0, 1.0, 2.0], np.float32)], [np.array([0.5, 1.0, 2.0], np.float32)]
    report = cmp.compare_outputs([{"y": ref[0]}], [{"y": got[0]}], [], [cmp.Threshold.parse("rtol<=0.01")])[0]
    assert report.metrics["rtol"] == np.inf and report.metrics["max_rel"] == np.inf
    assert not report.passed and [c["passed"] for c in report.checks if c["metric"] == "rtol"] == [False]
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))  # valid JSON: inf is the string "inf"
    assert data["metrics"]["rtol"] == "inf" and data["metrics"]["max_rel"] == "inf"
    assert [c["actual"] for c in data["checks"] if c["metric"] == "rtol"] == ["inf"]


def test_nonfinite_reference_fails_the_default_cosine_and_is_counted():
    ref, got = np.array([1.0, np.nan, 1.0, 1.0], np.float32), np.ones(4, np.float32)
    report = cmp.compare_outputs([{"y": ref}], [{"y": got}], [], [])[0]
    assert report.metrics["nonfinite"] == 1 and np.isnan(report.metrics["cosine"])
    assert [c["passed"] for c in report.checks if c["metric"] == "cosine"] == [False]
    assert not report.passed
    both = cmp.output_metrics([ref], [np.array([np.inf, 1, 1, 1], np.float32)], classifier=False)
    assert both["nonfinite"] == 2
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["metrics"]["cosine"] == "nan" and data["passed"] is False


def test_random_samples_are_seeded_and_within_range():
    from omdeploy.runtime.base import TensorInfo

    infos = [TensorInfo("x", (1, "?"), np.dtype(np.float32)), TensorInfo("img", (1, 4, 4, 3), np.dtype(np.uint8))]
    a = cmp.random_samples(infos, 2, 7, {"x": [1, 5]}, {"x": (-2.0, -1.0)})
    b = cmp.random_samples(infos, 2, 7, {"x": [1, 5]}, {"x": (-2.0, -1.0)})
    assert [n for n, _ in a] == ["random#0", "random#1"]
    np.testing.assert_array_equal(a[1][1]["x"], b[1][1]["x"])
    assert a[0][1]["x"].shape == (1, 5) and -2.0 <= a[0][1]["x"].min() and a[0][1]["x"].max() < -1.0
    assert a[0][1]["img"].dtype == np.uint8
    with pytest.raises(UserError, match="dynamic dims") as missing:
        cmp.random_samples(infos, 1, 0, {}, {})
    assert missing.value.hint == "--shape x:1,N"


def test_npz_inputs_are_checked_against_input_names(tmp_path):
    from omdeploy.runtime.base import TensorInfo

    np.savez(tmp_path / "in.npz", y=np.zeros(3))
    with pytest.raises(UserError, match="no array named 'x'"):
        cmp.array_samples(tmp_path / "in.npz", [TensorInfo("x", (3,), np.dtype(np.float32))])


def test_side_syntax():
    assert cmp.split_side("deploy.yaml@sim") == ("deploy.yaml", "sim")
    assert cmp.split_side("model.onnx") == ("model.onnx", "auto")
    assert cmp.split_side("me@host/model.onnx") == ("me@host/model.onnx", "auto")
    with pytest.raises(UserError, match="did you mean 'sim'"):
        cmp.split_side("deploy.yaml@simm")


# ---- the CLI on real models -------------------------------------------------------------------------

@pytest.mark.needs_torch
@pytest.mark.needs_assets
def test_efficientnet_fp16_sim_matches_fp32_on_20_real_images(cli, efficientnet_onnx, assets, tmp_path):
    ref = write_spec(tmp_path / "fp32.yaml", efficientnet_onnx)
    target = write_spec(tmp_path / "device.yaml", efficientnet_onnx, precision_mode="force_fp16",
                        inputs=[{"name": "input", "shape": [1, 3, 224, 224], "dtype": "float16"}])
    args = ["compare", ref, "{}@sim".format(target)] + as_args(twenty_photos(assets)) + ["--threshold", "cosine>=0.999"]
    result = cli(*args, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert len(report["samples"]) == 20 and report["passed"]
    logits = report["outputs"][0]["metrics"]
    assert logits["cosine"] >= 0.999 and logits["top1"] == 1.0 and logits["nonfinite"] == 0
    assert 0 < logits["max_abs"] < 0.5  # fp16 really changed the numbers, and not by much
    assert report["target_info"]["precision_mode"] == "force_fp16"
    table = cli(*args)
    assert table.code == 0
    assert "cosine (worst sample)" in table.out and "top-1 agreement" in table.out and "1.000" in table.out
    assert "{:.6f}".format(logits["cosine"]) in table.out and "PASS" in table.out


@pytest.mark.needs_torch
@pytest.mark.needs_assets
def test_aipp_that_swaps_r_and_b_is_caught_and_the_fix_passes(cli, efficientnet_onnx, assets, tmp_path):
    ref = write_spec(tmp_path / "host.yaml", efficientnet_onnx)
    (tmp_path / "swap.cfg").write_text(SWAP_RB_AIPP)
    swapped = write_spec(tmp_path / "swapped.yaml", efficientnet_onnx, atc={"insert_op_conf": "swap.cfg"})
    fixed = write_spec(tmp_path / "fixed.yaml", efficientnet_onnx, preprocess=dict(EFFNET_PRE, where="aipp"))
    photos = as_args(sorted(assets("images").iterdir()))

    bad = cli("compare", ref, "{}@sim".format(swapped), *photos, "--json")
    assert bad.code == 1
    report = json.loads(bad.out)
    metrics = report["outputs"][0]["metrics"]
    assert not report["passed"] and metrics["cosine"] < 0.9 and metrics["top1"] < 0.9
    assert report["target_info"]["aipp_inputs"] == ["input"]
    failed = {c["metric"] for c in report["outputs"][0]["checks"] if c["passed"] is False}
    assert failed == {"cosine", "RelativeEuclideanDistance", "top1"}
    human = cli("compare", ref, "{}@sim".format(swapped), *photos)
    assert human.code == 1 and "cosine>=0.99 FAILED" in human.out and "FAIL" in human.out

    good = cli("compare", ref, "{}@sim".format(fixed), *photos, "--json")
    assert good.code == 0, good.out
    metrics = json.loads(good.out)["outputs"][0]["metrics"]
    assert metrics["cosine"] >= 0.999 and metrics["top1"] == 1.0


@pytest.mark.needs_torch
@pytest.mark.needs_assets
def test_an_application_feeding_bgr_gets_an_aipp_that_swaps(cli, efficientnet_onnx, assets, tmp_path):
    ref = write_spec(tmp_path / "host.yaml", efficientnet_onnx)
    bgr = write_spec(tmp_path / "bgr.yaml", efficientnet_onnx,
                     preprocess=dict(EFFNET_PRE, where="aipp", device_format="bgr"))
    result = cli("compare", ref, "{}@sim".format(bgr), "-i", assets.image("coffee.png"), "--json")
    assert result.code == 0, result.out
    assert json.loads(result.out)["outputs"][0]["metrics"]["cosine"] >= 0.999


def det_specs(tmp_path: Path, assets) -> tuple:
    from omdeploy.spec import DeploySpec

    common = {"model": str(assets.model("ppocrv4_det.onnx")), "inputs": [{"name": "x", "shape": [1, 3, -1, -1]}],
              "preprocess": {"resize": "stretch", "mean": DET_MEAN, "std": DET_STD}, "task": "ocr-det"}
    host = DeploySpec.from_dict(common).save(tmp_path / "det_host.yaml")
    device = DeploySpec.from_dict(dict(common, dynamic={"mode": "image_size", "gears": [[640, 640], [960, 960]]})
                                  ).save(tmp_path / "det_device.yaml")
    return host, device


@pytest.mark.needs_assets
def test_ppocr_det_on_a_gear_matches_fp32_and_off_gear_is_refused(cli, assets, tmp_path):
    host, device = det_specs(tmp_path, assets)
    photos = ["-i", assets.image("page.png"), "-i", assets.image("text.png")]
    args = ["compare", host, "{}@sim".format(device), *photos, "--threshold", "cosine>=0.999", "--threshold", "max_abs<=0.3"]
    on_gear = cli(*args, "--shape", "x:1,3,640,640", "--json")
    assert on_gear.code == 0, on_gear.err
    metrics = json.loads(on_gear.out)["outputs"][0]["metrics"]
    assert metrics["cosine"] >= 0.999 and 0 < metrics["atol"] <= 0.3
    table = cli(*args, "--shape", "x:1,3,640,640")
    assert "atol needed (rtol=0)" in table.out and "{:.3g}".format(metrics["atol"]) in table.out

    off_gear = cli(*args, "--shape", "x:1,3,800,800")
    assert off_gear.code == 2
    assert "800x800 is not a compiled gear" in off_gear.err and "640x640, 960x960" in off_gear.err
    assert "Traceback" not in off_gear.err


@pytest.mark.needs_assets
def test_golden_data_saved_in_one_process_gives_the_same_report_in_another(cli, assets, tmp_path):
    host, device = det_specs(tmp_path, assets)
    golden = tmp_path / "golden.npz"
    common = ["--shape", "x:1,3,640,640", "--json"]
    saved = cli("compare", host, "{}@sim".format(device), "-i", assets.image("page.png"), "--random", "0",
                "--save", golden, *common)
    assert saved.code == 0, saved.err
    with np.load(golden) as data:
        assert data["input/0/x"].dtype == np.uint8 and data["ref/0/sigmoid_0.tmp_0"].shape == (1, 1, 640, 640)
    loaded = subprocess.run([sys.executable, "-m", "omdeploy.cli.main", "compare", "{}@sim".format(device),
                             "--load", str(golden), *common], capture_output=True, text=True, check=False)
    assert loaded.returncode == 0, loaded.stderr
    first, second = json.loads(saved.out), json.loads(loaded.stdout)
    assert first.pop("saved") == str(golden)
    assert first == second


def test_load_rejects_files_that_are_not_golden(cli, tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    model = fp16_overflow_model(tmp_path / "m.onnx")
    result = cli("compare", model, "--load", tmp_path / "other.npz")
    assert result.code == 2 and "not golden data" in result.err


def test_a_bare_model_on_sim_is_what_atc_makes_by_default(cli, tmp_path):
    model = fp16_overflow_model(tmp_path / "rmsnorm.onnx")
    result = cli("compare", model, "{}@sim".format(model), "--random", "1", "--json")
    assert result.code == 1  # force_fp16, ATC's default, overflows this block
    info = json.loads(result.out)["target_info"]
    assert info["precision_mode"] == "force_fp16" and info["backend"] == "sim"


def test_layers_find_the_first_layer_whose_float16_error_jumps(cli, tmp_path):
    model = fp16_overflow_model(tmp_path / "rmsnorm.onnx")
    (tmp_path / "device.yaml").write_text("model: rmsnorm.onnx\n")
    result = cli("compare", model, "{}@sim".format(tmp_path / "device.yaml"), "--random", "2", "--layers", "--json")
    assert result.code == 1
    report = json.loads(result.out)
    jump = report["layers"]["first_jump"]
    # the default Ascend310P3 saturates h*h at 65504 instead of writing inf: the jump is there, finite
    assert (jump["tensor"], jump["op_type"], jump["node"]) == ("sq", "Mul", "square") and jump["nonfinite"] == 0
    assert jump["cosine"] < report["layers"]["cosine_min"]
    rows = {r["tensor"]: r for r in report["layers"]["rows"]}
    assert rows["h"]["cosine"] > 0.9999  # the MatMul before it is fine in fp16
    # msit's overflow column: the squares past 65504 saturated, the MatMul's values did not
    assert rows["sq"]["overflow"] > 0 and rows["h"]["overflow"] == 0
    human = cli("compare", model, "{}@sim".format(tmp_path / "device.yaml"), "--random", "2", "--layers")
    assert "first layer whose error jumps: sq (op Mul, node square)" in human.out and "overflow" in human.out


@pytest.mark.needs_torch
@pytest.mark.needs_assets
def test_layers_of_a_healthy_network_report_no_jump(cli, efficientnet_onnx, assets, tmp_path):
    ref = write_spec(tmp_path / "fp32.yaml", efficientnet_onnx)
    result = cli("compare", ref, "{}@sim".format(ref), "-i", assets.image("coffee.png"), "--layers", "--json")
    assert result.code == 0, result.out
    layers = json.loads(result.out)["layers"]
    assert layers["first_jump"] is None and layers["tensors"] > 50
    assert min(r["cosine"] for r in layers["rows"]) < 1.0  # every layer really ran in fp16


@pytest.mark.parametrize("args, message", [
    (["only-one.onnx"], "expected REF and TARGET"),
    (["a.onnx", "b.onnx", "--save", "g.npz", "--load", "g.npz"], "expected TARGET"),
    (["a.onnx", "a.onnx@onnxruntime", "--inputs", "missing.png"], "does not exist"),
    (["a.onnx", "a.onnx", "--threshold", "cosine=1"], "expected [OUTPUT:]METRIC"),
])
def test_cli_user_errors_are_one_line(cli, tmp_path, args, message):
    fp16_overflow_model(tmp_path / "a.onnx")
    args = [str(tmp_path / a) if a.endswith(".onnx") or a.endswith("@sim") else a for a in args]
    result = cli("compare", *args)
    assert result.code == 2, result
    assert message in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("args, message", [
    (["--random", "-1"], "--random: expected a number >= 0, got -1"),
    (["--seed", "-4"], "--seed: expected a number >= 0, got -4"),
    (["--range", "x:5,1"], "--range x: expected LOW <= HIGH, got 5,1"),
    (["--range", "nosuch:0,1"], "--range nosuch: the model has no input named 'nosuch'; its inputs are: x"),
    (["--shape", "y:1,3,8,8"], "--shape y: the model has no input named 'y'"),
    (["--shape", "x:1,3"], "--shape x: expected 4 dims like [N, 3, 8, 8], got 1,3"),
    (["--shape", "x:1.5,3,8,8"], "--shape 'x:1.5,3,8,8': expected NAME:1,3,640,640"),
    (["--threshold", "nosuch:cosine>=0.9"], "--threshold nosuch: the model has no output named 'nosuch'; its outputs are: y"),
    (["--save", "."], "--save . is a folder"),
    (["--layer-cosine", "2"], "--layer-cosine: expected a cosine between -1 and 1, got 2"),
    (["--shape", "x:2,3,8,8"], "--shape x: given twice (1,3,8,8 and 2,3,8,8)"),
])
def test_options_naming_nothing_or_out_of_range_are_user_errors(cli, tmp_path, monkeypatch, args, message):
    from tests.runtime.tiny_models import scale_model

    monkeypatch.chdir(tmp_path)
    model = scale_model(tmp_path / "dyn.onnx", shape=("N", 3, 8, 8))
    base = ["--shape", "x:1,3,8,8"] if "--shape" not in args or "x:2,3,8,8" in args else []
    result = cli("compare", model, "{}@sim".format(model), *base, *args)
    assert result.code == 2, result
    assert result.err.startswith("error: " + message), result.err


def test_load_of_a_single_array_is_not_golden_data(cli, tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((2, 2), np.float32))
    model = fp16_overflow_model(tmp_path / "m.onnx")
    result = cli("compare", model, "--load", tmp_path / "one.npy")
    assert result.code == 2 and "holds one array (.npy), not an .npz archive" in result.err


def test_golden_data_cut_short_or_for_another_model_is_a_user_error(cli, tmp_path):
    from tests.runtime.tiny_models import scale_model, two_input_model

    model = scale_model(tmp_path / "m.onnx")
    golden = tmp_path / "golden.npz"
    assert cli("compare", model, "{}@sim".format(model), "--random", "2", "--save", golden).code == 0
    for size in (0, 100, golden.stat().st_size // 2):  # an interrupted --save
        cut = tmp_path / "cut{}.npz".format(size)
        cut.write_bytes(golden.read_bytes()[:size])
        result = cli("compare", model, "--load", cut)
        assert result.code == 2 and ("is not golden data" in result.err or "incomplete" in result.err), result
    other = two_input_model(tmp_path / "other.onnx")
    result = cli("compare", other, "--load", golden)
    assert result.code == 2 and "holds inputs for {}".format(model) in result.err, result.err


@pytest.mark.parametrize("args, message", [
    (["{m}", "{m}@sim", "--random", "2", "-i", "{npy}"], "--inputs and --random: expected one of them"),
    (["{m}@sim", "--load", "{g}", "--random", "3"], "--load and --random: the golden data brings its own inputs"),
    (["{m}@sim", "--load", "{g}", "-i", "{npy}"], "--load and --inputs"),
    (["{m}@sim", "--load", "{g}", "--range", "x:0,1"], "--load and --range"),
])
def test_conflicting_input_options_are_refused(cli, tmp_path, args, message):
    from tests.runtime.tiny_models import scale_model

    names = {"m": scale_model(tmp_path / "m.onnx"), "g": tmp_path / "g.npz", "npy": tmp_path / "x.npy"}
    np.save(names["npy"], np.zeros((1, 3, 8, 8), np.float32))
    result = cli("compare", *[a.format(**names) for a in args])
    assert result.code == 2 and result.err.startswith("error: " + message), result.err


def test_save_never_overwrites_a_model_or_an_input(cli, tmp_path):
    from tests.runtime.tiny_models import scale_model

    model = scale_model(tmp_path / "m.onnx")
    before = model.read_bytes()
    result = cli("compare", model, "{}@sim".format(model), "--random", "1", "--save", model)
    assert result.code == 2 and "--save {} would overwrite the input".format(model) in result.err
    assert model.read_bytes() == before


@pytest.mark.needs_assets
@pytest.mark.parametrize("pre, channels, max_abs", [
    ({"color": "rgb", "device_format": "bgr"}, 3, 0),   # the ONNX side takes RGB, the simulated .om BGR
    ({"color": "gray", "device_format": "rgb", "mean": [0.0], "std": [1.0]}, 1, 2),  # PIL luma vs AIPP's Q8
])
def test_each_side_of_an_aipp_spec_gets_the_pixels_it_takes(assets, tmp_path, pre, channels, max_abs):
    from omdeploy.spec import DeploySpec
    from tests.runtime.tiny_models import scale_model

    model = scale_model(tmp_path / "identity.onnx", shape=(1, channels, 64, 64), factor=1.0)
    spec = DeploySpec.from_dict({"model": str(model), "inputs": [{"name": "x", "shape": [1, channels, 64, 64]}],
                                 "precision_mode": "must_keep_origin_dtype",
                                 "preprocess": dict(pre, where="aipp", resize="stretch")}).save(tmp_path / "d.yaml")
    report = cmp.compare_sides(str(spec), "{}@sim".format(spec), inputs=[assets.image("coffee.png")],
                               thresholds=[cmp.Threshold.parse("max_abs<={}".format(max_abs))])
    assert report.passed, report.to_dict()


# ---- verdicts that are not scale-blind (msit metric set) ---------------------------------------------

def _saved(graph, path):
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def sigmoid_of_overflow_model(path):
    """score = sigmoid(sum(x) / 60000): one value; a sum of 120000 overflows fp16 (saturated to 65504 on
    310P3), so fp32 gives sigmoid(2) and the device sigmoid(65504 / 60000)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], name="total", keepdims=0),
             helper.make_node("Div", ["s", "d"], ["q"], name="ratio"),
             helper.make_node("Sigmoid", ["q"], ["score"], name="gate")]
    graph = helper.make_graph(nodes, "sig", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("score", TensorProto.FLOAT, [])],
                              [numpy_helper.from_array(np.array(60000.0, np.float32), "d")])
    return _saved(graph, path)


def clamped_divisor_model(path):
    """y = x / 1e5: the divisor does not fit fp16, ATC stores 65504, the output is 1e5/65504 = 1.53x larger."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph([helper.make_node("Div", ["x", "big"], ["y"], name="rescale")], "div",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
                              [numpy_helper.from_array(np.array(1e5, np.float32), "big")])
    return _saved(graph, path)


def test_overflow_hidden_behind_a_sigmoid_fails_by_relative_error(cli, tmp_path):
    model = sigmoid_of_overflow_model(tmp_path / "sig.onnx")
    np.save(tmp_path / "x.npy", np.full(4, 30000.0, np.float32))  # each fits fp16, the sum 120000 does not
    result = cli("compare", model, "{}@sim".format(model), "-i", tmp_path / "x.npy", "--json")
    assert result.code == 1, result.out
    out = json.loads(result.out)["outputs"][0]
    # fp32 sigmoid(2) = 0.881; the saturated sum gives sigmoid(65504 / 60000) = 0.749 (computed here)
    ref, got = 1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(-65504 / 60000))
    assert out["metrics"]["CosineSimilarity"] is None  # one value: no cosine verdict
    assert abs(out["metrics"]["RelativeEuclideanDistance"] - abs(got - ref) / ref) < 2e-3
    assert {c["metric"] for c in out["checks"] if c["passed"] is False} == {"RelativeEuclideanDistance"}


def test_a_rescale_by_a_clamped_constant_fails_although_cosine_is_1(cli, tmp_path):
    model = clamped_divisor_model(tmp_path / "div.onnx")
    result = cli("compare", model, "{}@sim".format(model), "--random", "2", "--range", "x:100,1000", "--json")
    assert result.code == 1, result.out
    metrics = json.loads(result.out)["outputs"][0]["metrics"]
    assert metrics["cosine"] > 0.9999
    assert abs(metrics["RelativeEuclideanDistance"] - (1e5 / 65504 - 1)) < 2e-3
    for name in ("CosineSimilarity", "MaxAbsoluteError", "AccumulatedRelativeError", "RelativeEuclideanDistance",
                 "KullbackLeiblerDivergence", "StandardDeviation", "MeanAbsoluteError", "MeanRelativeError"):
        assert name in metrics  # msit's CSV column names


def test_identical_non_finite_values_are_equal_and_relative_errors_skip_a_zero_reference():
    ref = [np.array([[-np.inf, 0.0, 2.0, np.nan]], np.float32)]
    got = [np.array([[-np.inf, 1e-3, 2.0, np.nan]], np.float32)]
    metrics = cmp.output_metrics(ref, got, classifier=False)
    assert metrics["nonfinite"] == 0
    assert metrics["MaxRelativeError"] == 0.0  # |ref| <= eps is skipped, as msaccucmp does
    assert metrics["MaxAbsoluteError"] == pytest.approx(1e-3)
    assert cmp.output_metrics([np.array([3.0], np.float32)], [np.array([3.0], np.float32)], False)["cosine"] is None
