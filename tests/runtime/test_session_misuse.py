"""The Python API's misuses raise UserError naming what is accepted (issue: Session(None), run("photo.jpg"),...)."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from omdeploy.errors import UserError
from omdeploy.runtime.session import Session


@pytest.fixture(scope="module")
def model(assets):
    return assets.model("light_squeezenet.onnx")


@pytest.mark.parametrize("bad", [None, 42, 3.5, ["m.onnx"]])
def test_session_refuses_what_is_not_a_path(bad):
    with pytest.raises(UserError, match="expected a path"):
        Session(bad)


@pytest.mark.parametrize("feeds,phrase", [(None, "expected a numpy array"), ("photo.jpg", "expected a numpy array"),
                                          (b"raw", "expected a numpy array"), ([None], "expected a numpy array")])
def test_run_refuses_what_is_not_an_array(model, feeds, phrase):
    with Session(model) as s:
        with pytest.raises(UserError, match=phrase):
            s.run(feeds)


def test_run_after_close(model):
    s = Session(model)
    s.close()
    with pytest.raises(UserError, match="closed"):
        s.run(np.zeros(s.inputs[0].shape, np.float32))


def test_big_endian_float32_runs_like_native(model):
    with Session(model) as s:
        x = np.random.default_rng(0).random([d if isinstance(d, int) and d > 0 else 1 for d in s.inputs[0].shape],
                                            dtype=np.float32)
        native = s.run(x)
        swapped = s.run(x.astype(">f4"))
    for name in native:
        assert np.array_equal(native[name], swapped[name])


def test_fp16_overflow_warns_once(caplog):
    from omdeploy.runtime.base import TensorInfo
    from omdeploy.runtime.session import _native

    info = TensorInfo("x", [1, 2], "float16")
    with caplog.at_level(logging.WARNING, logger="omdeploy"):
        for _ in range(3):
            _native("x", np.array([[70000.0, 1.0]], np.float32), info)
    assert caplog.text.count("do not fit float16") == 1
