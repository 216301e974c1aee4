"""Preprocessing from the spec: presets (one test per row), normalisation, layout, and the AIPP skip."""
from __future__ import annotations

import numpy as np
import pytest

from omdeploy.runtime.base import TensorInfo
from omdeploy.spec import PreprocessSpec
from omdeploy.tasks.base import labels_from_metadata, preset
from omdeploy.tasks.presets import DEFAULT_PRESET, PRESETS
from omdeploy.tasks.preprocess import ImagePreprocessor, input_hw

NCHW = TensorInfo("x", (1, 3, 4, 6), np.dtype(np.float32), "NCHW")


def _image(h=8, w=12):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_preprocess_block(name):
    pre = preset(name)
    assert pre.validate() == []
    image = _image(4, 6) if pre.resize == "none" else _image()
    tensor, _ = ImagePreprocessor(NCHW, pre)(image, size=(4, 6))
    assert tensor.shape == (1, 3, 4, 6) and tensor.dtype == np.float32
    mean, std = pre.normalisation(3)
    assert float(tensor.max()) <= (255 - mean.min()) / std.min() + 1e-3


def test_default_presets_exist():
    assert set(DEFAULT_PRESET.values()) <= set(PRESETS)


def test_host_preprocessing_normalises_swaps_and_transposes():
    pre = PreprocessSpec(color="bgr", resize="stretch", mean=[10.0, 20.0, 30.0], std=[2.0, 4.0, 5.0])
    image = _image(4, 6)
    tensor, geometry = ImagePreprocessor(NCHW, pre)(image)
    expected = (image[..., ::-1].astype(np.float32) - [10, 20, 30]) / [2, 4, 5]
    np.testing.assert_allclose(tensor[0], expected.transpose(2, 0, 1), rtol=1e-6)
    assert geometry.source_hw == (4, 6)


def test_aipp_models_take_the_raw_uint8_image():
    pre = PreprocessSpec(resize="letterbox", mean=[127.0], std=[128.0], where="aipp")
    tensor, geometry = ImagePreprocessor(NCHW, pre)(_image(8, 8))
    assert tensor.dtype == np.uint8 and tensor.shape == (1, 4, 6, 3)  # NHWC, resized, not normalised
    assert (geometry.pad_x, geometry.pad_y) == (1.0, 0.0)


def test_gray_models_get_one_channel():
    info = TensorInfo("x", (1, 1, 4, 6), np.dtype(np.float32), "NCHW")
    tensor, _ = ImagePreprocessor(info, PreprocessSpec(color="gray", mean=[0.0], std=[255.0]))(
        np.full((4, 6, 3), 255, np.uint8))
    assert tensor.shape == (1, 1, 4, 6) and np.allclose(tensor, 1.0, atol=0.01)


def test_input_hw_follows_the_layout():
    assert input_hw(NCHW) == (4, 6)
    assert input_hw(TensorInfo("x", (1, 5, 7, 3), np.dtype(np.uint8), "NHWC")) == (5, 7)
    assert input_hw(TensorInfo("x", ("N", 3, "H", "W"), np.dtype(np.float32), "NCHW")) == (None, None)


def test_labels_from_model_metadata():
    assert labels_from_metadata({"character": "0\n90"}) == ["0", "90"]
    assert labels_from_metadata({"names": "{0: 'person', 1: 'bicycle'}"}) == ["person", "bicycle"]
    assert labels_from_metadata({}) is None


def test_crop_mode_equals_resize_then_centre_crop(assets):
    from PIL import Image

    from omdeploy.tasks.preprocess import fit

    photo = Image.open(assets.image("astronaut.png")).convert("RGB").resize((517, 389))
    out, geometry = fit(np.asarray(photo), 224, 224, PreprocessSpec(resize="crop", short_side=256))
    resized = np.asarray(photo.resize((340, 256), Image.BILINEAR))
    reference = resized[16:240, 58:282]
    assert out.shape == (224, 224, 3) and np.abs(out.astype(int) - reference.astype(int)).max() <= 1
    assert (geometry.pad_x, geometry.pad_y) == (-58.0, -16.0)
    # the crop's top-left corner is (58, 16) in the resized image
    np.testing.assert_allclose(geometry.to_source(np.zeros(2)), [58 / 340 * 517, 16 / 256 * 389], rtol=1e-5)
