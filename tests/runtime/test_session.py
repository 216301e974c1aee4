from __future__ import annotations

import logging

import numpy as np
import pytest

from omdeploy.errors import UserError
from omdeploy.runtime import Session
from omdeploy.spec import DeploySpec

from .tiny_models import scale_model, two_input_model

pytestmark = pytest.mark.needs_onnx


@pytest.fixture
def scale(tmp_path):
    return scale_model(tmp_path / "scale.onnx")


def test_metadata_and_dict_list_and_single_array_feeds(scale):
    x = np.arange(192, dtype=np.float32).reshape(1, 3, 8, 8)
    with Session(scale) as s:
        assert s.backend_name == "onnxruntime"
        assert [(i.name, i.shape, i.dtype, i.layout) for i in s.inputs] == [("x", (1, 3, 8, 8), np.float32, "NCHW")]
        for feeds in ({"x": x}, [x], x):
            np.testing.assert_array_equal(s.run(feeds)["y"], x * 2)


def test_symbolic_dims_are_reported_by_name(tmp_path):
    path = scale_model(tmp_path / "dyn.onnx", shape=("N", 3, "H", "W"))
    with Session(path) as s:
        assert s.inputs[0].shape == ("N", 3, "H", "W")
        assert s.inputs[0].is_dynamic
        assert s.run(np.ones((2, 3, 5, 7), np.float32))["y"].shape == (2, 3, 5, 7)


def test_float32_is_cast_for_fp16_model_and_said_once(tmp_path, caplog):
    path = scale_model(tmp_path / "fp16.onnx", dtype=np.float16)
    x = np.full((1, 3, 8, 8), 1.5, np.float32)
    with caplog.at_level(logging.INFO, logger="omdeploy"), Session(path) as s:
        for _ in range(3):
            y = s.run([x])["y"]
    assert y.dtype == np.float16 and float(y[0, 0, 0, 0]) == 3.0
    casts = [r for r in caplog.records if "cast float32 to float16" in r.getMessage()]
    assert len(casts) == 1


def test_missing_batch_dim_and_hwc_are_adapted(scale):
    chw = np.random.default_rng(0).random((3, 8, 8), dtype=np.float32)
    with Session(scale) as s:
        np.testing.assert_allclose(s.run([chw])["y"][0], chw * 2)
        hwc = np.ascontiguousarray(chw.transpose(1, 2, 0))
        np.testing.assert_allclose(s.run([hwc])["y"][0], chw * 2)
        np.testing.assert_allclose(s.run([hwc[None]])["y"][0], chw * 2)


@pytest.mark.parametrize("feeds, fragment", [
    ({"x": np.zeros((3, 8), np.float32)}, "input 'x': expected float32 [1, 3, 8, 8], got rank 2 float32 (3, 8)"),
    ({"X": np.zeros((1, 3, 8, 8), np.float32)}, "unknown input 'X' (did you mean 'x'?); the model's inputs are: x"),
    ({"x": np.zeros((1, 3, 8, 8), np.float64)}, "input 'x': expected float32 [1, 3, 8, 8], got float64"),
    ({"x": np.zeros((1, 3, 9, 8), np.float32)}, "input 'x': expected float32 [1, 3, 8, 8], got shape (1, 3, 9, 8)"),
    ({"x": np.zeros((1, 8, 8, 3), np.uint8)}, "input 'x': expected float32 [1, 3, 8, 8], got uint8 (an image?)"),
    ([np.zeros((1, 3, 8, 8), np.float32)] * 2, "expected 1 input array (x), got 2"),
])
def test_wrong_feeds_are_one_line_user_errors(scale, feeds, fragment):
    with Session(scale) as s, pytest.raises(UserError) as err:
        s.run(feeds)
    assert str(err.value) == fragment or str(err.value).startswith(fragment)
    assert "\n" not in str(err.value)


def test_float64_error_says_how_to_fix(scale):
    with Session(scale) as s, pytest.raises(UserError) as err:
        s.run(np.zeros((1, 3, 8, 8)))
    assert "astype(np.float32)" in err.value.hint


def test_nhwc_uint8_image_is_accepted_only_with_a_spec(scale):
    image = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    spec = DeploySpec.from_dict({"model": str(scale), "inputs": [{"name": "x", "shape": [1, 3, 8, 8]}],
                                 "preprocess": {"color": "bgr", "mean": [10, 20, 30], "std": [2, 4, 8]}})
    with Session(scale, spec=spec) as s:
        y = s.run([image])["y"]
    bgr = image[..., ::-1].astype(np.float32)
    expected = ((bgr - [10, 20, 30]) / [2, 4, 8]).transpose(2, 0, 1)[None] * 2
    np.testing.assert_allclose(y, expected, rtol=1e-6)


def test_two_inputs_int_cast_and_output_selection(tmp_path):
    path = two_input_model(tmp_path / "two.onnx")
    a = np.ones((2, 3), np.float32)
    with Session(path) as s:
        out = s.run({"a": a, "b": a, "ids": np.array([4, 5], np.int32)})
        assert list(out) == ["sum", "count"]
        assert out["count"].dtype == np.int64
        only = s.run([a, a, np.array([1, 2])], outputs=["count"])
        assert list(only) == ["count"]
        with pytest.raises(UserError, match="missing input 'ids'"):
            s.run({"a": a, "b": a})
        with pytest.raises(UserError, match="unknown output 'cnt'"):
            s.run([a, a, np.array([1, 2])], outputs=["cnt"])


def test_open_errors(tmp_path, scale):
    with pytest.raises(UserError, match="does not exist"):
        Session(tmp_path / "missing.onnx")
    with pytest.raises(UserError, match="unknown backend 'onnxrt'.*did you mean 'onnxruntime'"):
        Session(scale, backend="onnxrt")
    with pytest.raises(UserError, match="not available in this onnxruntime build"):
        Session(scale, providers="cann")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(UserError, match="onnxruntime cannot load"):
        Session(bad)
    other = tmp_path / "model.pt"
    other.write_bytes(b"x")
    with pytest.raises(UserError, match="no backend runs '.pt' files"):
        Session(other)


def test_session_from_spec_file(tmp_path, scale):
    spec = tmp_path / "deploy.yaml"
    spec.write_text("model: scale.onnx\ninputs: [{name: x, shape: [1, 3, 8, 8], layout: NCHW}]\n")
    with Session(spec) as s:
        assert s.spec is not None and s.path == scale.resolve()
        assert s.run(np.ones((1, 3, 8, 8), np.float32))["y"].sum() == 2 * 192


def test_an_unreadable_sidecar_is_ignored_with_a_warning(tmp_path, caplog):
    from omdeploy.runtime.session import _resolve

    om = tmp_path / "m.om"
    om.write_text("stand-in: only the path matters here")
    (tmp_path / "m.om.json").write_text('{"built": true}')  # a sidecar missing its required keys
    with caplog.at_level(logging.WARNING, logger="omdeploy"):
        assert _resolve(om, None) == (om, None)
    assert any("ignoring" in r.getMessage() and "m.om.json" in r.getMessage() for r in caplog.records)
