"""Preprocessing from the spec: presets (one test per row), normalisation, layout, and the AIPP skip."""
from __future__ import annotations

import numpy as np
import pytest

from omdeploy.runtime.base import TensorInfo
from omdeploy.spec import PreprocessSpec
from omdeploy.tasks.base import labels_from_metadata, preset
from omdeploy.presets import DEFAULT_PRESET, PRESETS
from omdeploy.tasks.preprocess import ImagePreprocessor, fit, input_hw

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

    photo = Image.open(assets.image("astronaut.png")).convert("RGB").resize((517, 389))
    out, geometry = fit(np.asarray(photo), 224, 224, PreprocessSpec(resize="crop", short_side=256))
    resized = np.asarray(photo.resize((340, 256), Image.BILINEAR))
    reference = resized[16:240, 58:282]
    assert out.shape == (224, 224, 3) and np.abs(out.astype(int) - reference.astype(int)).max() <= 1
    assert (geometry.pad_x, geometry.pad_y) == (-58.0, -16.0)
    # the crop's top-left corner is (58, 16) in the resized image
    np.testing.assert_allclose(geometry.to_source(np.zeros(2)), [58 / 340 * 517, 16 / 256 * 389], rtol=1e-5)


# ---- AIPP inputs: the pixels the application feeds, and AIPP's crop in the geometry --------------------

def _photo(assets, name="coffee.png"):
    from omdeploy.tasks.image import load_image

    return load_image(assets.image(name))


@pytest.mark.parametrize("pre, expected", [
    (dict(color="bgr"), lambda rgb: rgb[..., ::-1]),                       # device_format defaults to color
    (dict(color="rgb", device_format="bgr"), lambda rgb: rgb[..., ::-1]),
    (dict(color="bgr", device_format="rgb"), lambda rgb: rgb),
    (dict(color="gray", mean=[0.0], std=[1.0], device_format="rgb"), lambda rgb: rgb),  # AIPP makes the gray
    (dict(color="rgb", device_format="xbgr"),
     lambda rgb: np.concatenate([np.zeros(rgb.shape[:2] + (1,), np.uint8), rgb[..., ::-1]], axis=-1)),
])
def test_aipp_input_gets_the_device_format_pixels(assets, pre, expected):
    channels = 4 if pre.get("device_format", "").startswith("x") else 3
    info = TensorInfo("x", (1, 48, 64, channels), np.dtype(np.uint8), "NHWC")  # the .om's AIPP input
    spec = PreprocessSpec(resize="letterbox", where="aipp", **pre)
    photo = _photo(assets)
    tensor, _ = ImagePreprocessor(info, spec)(photo)
    fitted, _ = fit(photo, 48, 64, spec)
    assert tensor.dtype == np.uint8 and np.array_equal(tensor[0], expected(fitted))


def test_yuv_device_formats_feed_planes_of_the_picture_size(assets):
    from omdeploy.ascend.contract import yuv420sp

    info = TensorInfo("x", (1, 72, 64, 1), np.dtype(np.uint8), "NHWC")  # (N, H*3/2, W, 1): a 48x64 picture
    spec = PreprocessSpec(where="aipp", device_format="nv12")
    photo = _photo(assets)
    tensor, _ = ImagePreprocessor(info, spec)(photo)
    fitted, _ = fit(photo, 48, 64, spec)
    assert tensor.shape == (1, 72, 64, 1) and np.array_equal(tensor[0], yuv420sp(fitted))


def test_every_device_format_of_the_spec_is_made_from_photos():
    from omdeploy.spec import DEVICE_FORMATS
    from omdeploy.tasks.preprocess import PIXEL_FORMATS

    assert set(DEVICE_FORMATS) <= set(PIXEL_FORMATS)


def test_gray_device_format_feeds_pil_luma(assets):
    from PIL import Image

    info = TensorInfo("x", (1, 48, 64, 1), np.dtype(np.uint8), "NHWC")
    spec = PreprocessSpec(color="gray", mean=[0.0], std=[1.0], resize="stretch", where="aipp")  # YUV400
    photo = _photo(assets)
    tensor, _ = ImagePreprocessor(info, spec)(photo)
    resized = Image.fromarray(photo).resize((64, 48), Image.BILINEAR)
    assert np.array_equal(tensor[0, ..., 0], np.asarray(resized.convert("L")))


def test_host_gray_conversion_equals_pil_convert_l(assets):
    from PIL import Image

    photo = _photo(assets, "astronaut.png")
    info = TensorInfo("x", (1, 1) + photo.shape[:2], np.dtype(np.float32), "NCHW")
    tensor, _ = ImagePreprocessor(info, PreprocessSpec(color="gray", resize="none", mean=[0.0], std=[1.0]))(photo)
    assert np.array_equal(tensor[0, 0], np.asarray(Image.fromarray(photo).convert("L"), np.float32))


def test_host_path_of_an_aipp_spec_keeps_rgb_for_the_adapter(assets):
    # onnxruntime runs the ONNX of an AIPP spec: the input is the float model input, its adapter swaps to BGR
    spec = PreprocessSpec(color="bgr", resize="stretch", where="aipp")
    tensor, _ = ImagePreprocessor(NCHW, spec)(_photo(assets))
    assert tensor.shape == (1, 4, 6, 3)
    fitted, _ = fit(_photo(assets), 4, 6, spec)
    assert np.array_equal(tensor[0], fitted)


@pytest.mark.needs_onnx
def test_aipp_centre_crop_is_in_the_geometry(assets, tmp_path):
    from omdeploy.runtime import Session
    from omdeploy.spec import DeploySpec
    from tests.runtime.tiny_models import scale_model

    model = scale_model(tmp_path / "identity.onnx", shape=(1, 3, 64, 64), factor=1.0)
    spec = DeploySpec.from_dict({"model": str(model), "inputs": [{"name": "x", "shape": [1, 3, 64, 64]}],
                                 "precision_mode": "must_keep_origin_dtype",
                                 "preprocess": {"where": "aipp", "resize": "none", "device_size": [80, 96]}})
    photo = np.ascontiguousarray(_photo(assets)[100:180, 150:246])  # an 80x96 image, fed as is
    with Session(spec, backend="sim") as session:
        info = session.inputs[0]
        assert info.shape == (1, 80, 96, 3)
        tensor, geometry = ImagePreprocessor(info, spec.preprocess, spec)(photo)
        seen = session.run({"x": tensor})["y"][0]  # what the network saw: AIPP's 64x64 centre crop
    assert (geometry.pad_x, geometry.pad_y) == (-16.0, -8.0)
    for x, y in [(0, 0), (63, 0), (10, 50), (63, 63)]:
        sx, sy = geometry.to_source(np.array([x, y], np.float32))
        assert np.array_equal(seen[:, y, x], photo[int(sy), int(sx)]), (x, y)
