"""AIPP: config ranges and rules, the aipp_op text format, builders, and the emulator against hand-written
references (the seed's appendix-3 config) and OpenCV's YUV420SP decoding."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from omdeploy.ascend.aipp import (FIELDS, RGB_TO_YUV, YUV_TO_RGB, AippConfig, aipp_for, aipp_from_spec,
                                  device_input_shape, emulate, make_config, parse_aipp, write_aipp)
from omdeploy.errors import UserError
from omdeploy.spec import DeploySpec
from omdeploy.tasks.image import load_image

# the seed's appendix 3, verbatim (comments included)
SEED_AIPP = """aipp_op {
    aipp_mode: static
    related_input_rank: 0
    
    input_format: RGB888_U8
    src_image_size_w: 640
    src_image_size_h: 640

    crop: true
    load_start_pos_w: 0
    load_start_pos_h: 0
    crop_size_w: 640
    crop_size_h: 624

    # RGB888_U8转BGR
    csc_switch: false
    rbuv_swap_switch: true

    # int8->fp16
    # 当uint8->fp16时，pixel_out_chx(i) = [pixel_in_chx(i) – mean_chn_i – min_chn_i] * var_reci_chn

    # 每个通道的均值
    # 类型：uint8
    # 取值范围：[0, 255]
    mean_chn_0: 0
    mean_chn_1: 0
    mean_chn_2: 0

    # 每个通道的最小值
    # 类型：float16
    # 取值范围：[0, 255]
    min_chn_0: 0.0
    min_chn_1: 0.0
    min_chn_2: 0.0

    # 每个通道方差的倒数
    # 类型：float16
    # 取值范围：[-65504, 65504]
    var_reci_chn_0: 0.00392156862745098
    var_reci_chn_1: 0.00392156862745098
    var_reci_chn_2: 0.00392156862745098

    padding: true
    left_padding_size: 0
    right_padding_size: 0
    top_padding_size: 0
    bottom_padding_size: 16
    padding_value: 0
}
"""


def photo(assets, name: str, hw) -> np.ndarray:
    from PIL import Image

    rgb = load_image(assets.image(name))
    return np.asarray(Image.fromarray(rgb).resize((hw[1], hw[0]), Image.BILINEAR))


def test_seed_config_parses_to_its_fields():
    (config,) = parse_aipp(SEED_AIPP)
    assert config.input_format == "RGB888_U8"
    assert (config.src_image_size_w, config.src_image_size_h) == (640, 640)
    assert config.crop and (config.crop_size_w, config.crop_size_h) == (640, 624)
    assert config.rbuv_swap_switch and not config.csc_switch
    assert config.var_reci_chn_2 == pytest.approx(1 / 255)
    assert config.padding and config.bottom_padding_size == 16
    assert config.output_hw() == (640, 640)


def test_seed_config_writes_back_equivalently():
    configs = parse_aipp(SEED_AIPP)
    text = write_aipp(configs, header="round trip")
    assert text.startswith("# round trip\naipp_op {")
    assert parse_aipp(text) == configs
    assert "bottom_padding_size: 16" in text and "var_reci_chn_0: 0.00392156862745098" in text


def seed_reference(image: np.ndarray) -> np.ndarray:
    """The seed's AIPP steps written out by hand: swap R/B, keep rows 0..623, x/255 in float16, 16 zero rows."""
    scale = np.float16(0.00392156862745098)
    out = np.zeros((3, 640, 640), dtype=np.float16)
    for c in range(3):
        plane = image[:624, :640, 2 - c]                # rbuv_swap: output channel c is input channel 2-c
        value = plane.astype(np.float16) - np.float16(0) - np.float16(0.0)   # - mean_chn - min_chn
        out[c, :624, :] = value * scale                 # * var_reci_chn, float16
    return out                                          # rows 624..639: padding_value 0


def test_emulate_seed_config_equals_hand_written_reference_bit_for_bit(assets):
    (config,) = parse_aipp(SEED_AIPP)
    image = photo(assets, "coffee.png", (640, 640))
    out = emulate(config, image)
    expected = seed_reference(image)
    assert out.dtype == np.float16 and out.shape == (3, 640, 640)
    assert np.array_equal(out.view(np.uint16), expected.view(np.uint16))
    # and it is what the seed replaced: BGR / 255 with 16 rows of bottom padding
    assert np.abs(out[:, :624].astype(np.float32) - image[:624, :, ::-1].transpose(2, 0, 1) / 255.0).max() < 1e-3
    assert not out[:, 624:].any()


def test_emulate_batch_matches_single_images(assets):
    (config,) = parse_aipp(SEED_AIPP)
    images = np.stack([photo(assets, "coffee.png", (640, 640)), photo(assets, "chelsea.png", (640, 640))])
    batch = emulate(config, images)
    assert batch.shape == (2, 3, 640, 640)
    assert np.array_equal(batch[1], emulate(config, images[1]))


def nv12_from_rgb(rgb: np.ndarray, nv21: bool = False) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # BT.601 narrow range
    u = i420[h:h + h // 4].reshape(h // 2, w // 2)
    v = i420[h + h // 4:].reshape(h // 2, w // 2)
    uv = np.stack([v, u] if nv21 else [u, v], axis=-1).reshape(h // 2, w)
    return np.concatenate([i420[:h], uv])


@pytest.mark.parametrize("fmt", ["nv12", "nv21"])
def test_yuv420sp_bt601_narrow_matches_opencv_within_2_levels(assets, fmt):
    import cv2

    rgb = photo(assets, "astronaut.png", (480, 512))
    planes = nv12_from_rgb(rgb, nv21=fmt == "nv21")
    expected = cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_NV21 if fmt == "nv21" else cv2.COLOR_YUV2RGB_NV12)
    config = aipp_for((480, 512), "rgb", fmt, yuv_matrix="bt601_narrow")
    assert config.input_format == "YUV420SP_U8" and config.rbuv_swap_switch == (fmt == "nv21")
    out = emulate(config, planes, output_dtype="uint8").transpose(1, 2, 0)
    diff = np.abs(out.astype(int) - expected.astype(int))
    assert diff.max() <= 2, diff.max()
    assert diff.mean() < 0.7
    # float16 output of the same config is the same integers (var_reci 1, mean 0)
    assert np.array_equal(emulate(config, planes).astype(np.uint8), out.transpose(2, 0, 1))


def test_yuv_to_bgr_swaps_matrix_rows(assets):
    rgb = photo(assets, "astronaut.png", (128, 128))
    planes = nv12_from_rgb(rgb)
    to_rgb = emulate(aipp_for((128, 128), "rgb", "nv12"), planes, "uint8")
    to_bgr = emulate(aipp_for((128, 128), "bgr", "nv12"), planes, "uint8")
    assert np.array_equal(to_bgr, to_rgb[::-1])


def test_xrgb_with_ax_swap_equals_rgb(assets):
    rgb = photo(assets, "chelsea.png", (96, 128))
    xrgb = np.concatenate([np.full(rgb.shape[:2] + (1,), 7, np.uint8), rgb], axis=-1)
    config = aipp_for((96, 128), "bgr", "xrgb", std=[255])
    assert config.input_format == "XRGB8888_U8" and config.ax_swap_switch and config.rbuv_swap_switch
    assert np.array_equal(emulate(config, xrgb), emulate(aipp_for((96, 128), "bgr", "rgb", std=[255]), rgb))


def test_rgb_to_gray_and_yuv400(assets):
    rgb = photo(assets, "coffee.png", (64, 96))
    gray = emulate(aipp_for((64, 96), "gray", "rgb"), rgb, "uint8")
    expected = (rgb.astype(int) @ np.array([76, 150, 30])) >> 8
    assert np.array_equal(gray[0], expected) and not gray[1:].any()
    y400 = emulate(aipp_for((64, 96), "gray", "gray", mean=[128], std=[64]), expected.astype(np.uint8))
    assert y400.shape == (1, 64, 96)
    assert np.allclose(y400[0], (expected - 128) / 64, atol=1e-3)


def test_rgb_to_yuv444_with_output_bias():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]]], np.uint8)
    matrix, bias = RGB_TO_YUV["bt601_narrow"]
    fields = {"matrix_r{}c{}".format(r, c): matrix[r][c] for r in range(3) for c in range(3)}
    fields.update({"output_bias_{}".format(i): b for i, b in enumerate(bias)})
    config = make_config(aipp_mode="static", input_format="RGB888_U8", csc_switch=True, **fields)
    yuv = emulate(config, rgb, "uint8")[:, 0].T
    assert yuv[3].tolist() == [126, 128, 128]                  # grey: Y = 16 + 219 * 128/255, U = V = 128
    assert yuv[0].tolist() == [81, 90, 239]                     # red in BT.601 narrow (floor of the Q8 sums)


def test_fractional_mean_goes_to_min_chn_and_normalises(assets):
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    config = aipp_for((224, 224), "rgb", "bgr", mean=mean, std=std)
    assert (config.mean_chn_0, config.min_chn_0) == (123, pytest.approx(0.675))
    rgb = photo(assets, "chelsea.png", (224, 224))
    out = emulate(config, rgb[..., ::-1].copy()).astype(np.float32)
    expected = (rgb.transpose(2, 0, 1) - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    assert np.abs(out - expected).max() < 0.01


def test_builder_from_intent_pads_bottom_like_the_seed(assets):
    # the model wants RGB float in [0, 1] at 640x640; the application feeds BGR uint8, 640 wide and 624 high
    config = aipp_for((640, 640), "rgb", "bgr", (624, 640), std=[255])
    assert (config.src_image_size_h, config.src_image_size_w) == (624, 640)
    assert config.padding and config.bottom_padding_size == 16 and not config.crop
    bgr = photo(assets, "coffee.png", (640, 640))[..., ::-1]
    seed_padded = emulate(parse_aipp(SEED_AIPP)[0], bgr.copy())
    assert np.array_equal(emulate(config, bgr[:624].copy()), seed_padded)


def test_builder_centre_crops_larger_images_even_for_yuv():
    config = aipp_for((100, 100), "rgb", "nv12", (110, 120))
    assert config.crop and (config.load_start_pos_h, config.load_start_pos_w) == (4, 10)
    assert config.output_hw() == (100, 100)


def test_builder_refuses_more_than_32_pixels_of_padding():
    with pytest.raises(UserError, match="bottom_padding_size"):
        aipp_for((640, 640), "rgb", "bgr", (600, 640))


def test_builder_refuses_gray_to_rgb_and_per_channel_pad():
    with pytest.raises(UserError, match="gray"):
        aipp_for((8, 8), "rgb", "gray")
    with pytest.raises(UserError, match="one value for all channels"):
        aipp_for((8, 8), "rgb", "rgb", (6, 8), mean=[1, 2, 3])


# ---- rules -------------------------------------------------------------------------------------------

def config_text(**fields) -> str:
    base = {"aipp_mode": "static", "input_format": "RGB888_U8", "src_image_size_w": 64, "src_image_size_h": 64}
    base.update(fields)
    return write_aipp(AippConfig(**base))


RULES = [
    ({"padding": True, "bottom_padding_size": 33}, "bottom_padding_size: expected a value in [0, 32], got 33"),
    ({"crop": True, "load_start_pos_w": 10, "crop_size_w": 60, "crop_size_h": 64}, "crop_size_w: load_start_pos_w + "),
    ({"crop": True, "load_start_pos_h": 64, "crop_size_w": 64, "crop_size_h": 1}, "load_start_pos_h: 64 is outside"),
    ({"input_format": "YUV420SP_U8", "src_image_size_w": 63}, "src_image_size_w: YUV420SP_U8 needs even"),
    ({"input_format": "YUV420SP_U8", "crop": True, "load_start_pos_h": 1, "crop_size_h": 2, "crop_size_w": 64},
     "load_start_pos_h: YUV420SP_U8 needs even"),
    ({"input_format": "ARGB8888_U8"}, "ARGB8888_U8 is reserved"),
    ({"input_format": "RGB888"}, "did you mean 'RGB888_U8'"),
    ({"src_image_size_w": 0, "padding": True, "top_padding_size": 2}, "only works with crop and padding off"),
    ({"resize": True}, "resize: not supported in static AIPP"),
    ({"input_format": "YUV400_U8", "csc_switch": True}, "csc_switch: YUV400_U8 has one channel"),
    ({"aipp_mode": "dynamic"}, "max_src_image_size: dynamic AIPP needs"),
    ({"aipp_mode": "Static"}, "aipp_mode"),
    ({"mean_chn_0": 256}, "mean_chn_0: expected a value in [0, 255], got 256"),
    ({"var_reci_chn_1": 70000.0}, "var_reci_chn_1: expected a value in [-65504, 65504]"),
    ({"matrix_r0c0": 40000}, "matrix_r0c0: expected a value in"),
    ({"rotation_angle": 4}, "rotation_angle: expected a value in [0, 3]"),
]


@pytest.mark.parametrize("fields,message", RULES, ids=[m.split(":")[0] for _, m in RULES])
def test_rules_refuse_with_the_field_named(fields, message):
    with pytest.raises(UserError) as info:
        parse_aipp(config_text(**fields))
    assert message in str(info.value)


def test_output_size_must_equal_model_input():
    config = make_config(aipp_mode="static", input_format="RGB888_U8", src_image_size_w=64, src_image_size_h=64)
    assert config.problems((64, 64)) == []
    assert "after crop and padding AIPP gives 64x64 (h x w) but the model input is 64x80" in \
        config.problems((64, 80))[0]


def test_text_format_several_blocks_comments_and_errors():
    text = ("# two inputs\naipp_op { aipp_mode: static input_format: YUV400_U8 }  # first\n"
            "aipp_op {\n  aipp_mode : static\n  related_input_rank: 1 # second\n  input_format: \"RGB888_U8\"\n}\n")
    first, second = parse_aipp(text)
    assert first.input_format == "YUV400_U8" and (second.related_input_rank, second.input_format) == (1, "RGB888_U8")
    assert parse_aipp(write_aipp([first, second])) == [first, second]
    with pytest.raises(UserError, match=r"line 2: unknown AIPP field 'var_reci_chn0' \(did you mean 'var_reci_chn_0'"):
        parse_aipp("aipp_op {\n var_reci_chn0: 1\n}")
    with pytest.raises(UserError, match="line 1: crop: expected true or false"):
        parse_aipp("aipp_op { aipp_mode: static crop: yes }")
    with pytest.raises(UserError, match="same related_input_rank"):
        parse_aipp("aipp_op { aipp_mode: static input_format: RGB888_U8 }\n" * 2)
    with pytest.raises(UserError, match="expected '}'"):
        parse_aipp("aipp_op { aipp_mode: static")
    with pytest.raises(UserError, match="no aipp_op block"):
        parse_aipp("# empty\n")


SAMPLE_VALUES = {bool: True, int: 2, float: 0.5, str: "dynamic"}


@pytest.mark.parametrize("row", FIELDS, ids=[row[0] for row in FIELDS])
def test_every_field_round_trips_through_the_text_format(row):
    name, tp, default, _, _ = row
    value = "YUV400_U8" if name == "input_format" else SAMPLE_VALUES[tp]
    if value == default:
        value = 3 if tp is int else False
    base = AippConfig(aipp_mode="static", input_format="RGB888_U8", src_image_size_w=64, src_image_size_h=64,
                      max_src_image_size=64 * 64 * 3)
    config = dataclasses.replace(base, **{name: value})
    text = write_aipp(config)
    assert "    {}: ".format(name) in text
    if config.problems():  # e.g. resize: true is written faithfully but refused when read
        with pytest.raises(UserError, match=name):
            parse_aipp(text)
    else:
        assert parse_aipp(text) == [config]


@pytest.mark.parametrize("row", [r for r in FIELDS if r[3] is not None], ids=[r[0] for r in FIELDS if r[3]])
def test_every_range_is_enforced(row):
    name, tp, _, (lo, hi), _ = row
    bad = (hi + 1) if hi is not None else lo - 1
    with pytest.raises(UserError, match=name + ": expected a value in"):
        make_config(aipp_mode="static", input_format="RGB888_U8", **{name: tp(bad)})


# standard coefficients: R = Y' + 2(1-Kr)V', B = Y' + 2(1-Kb)U', G from both; narrow scales by 255/219, 255/224
STANDARDS = {"601": (0.299, 0.114), "709": (0.2126, 0.0722)}


@pytest.mark.parametrize("name", sorted(YUV_TO_RGB))
def test_yuv_to_rgb_tables_match_the_standards(name):
    kr, kb = STANDARDS[name[2:5]]
    ys, cs = (255 / 219, 255 / 224) if name.endswith("narrow") else (1.0, 1.0)
    kg = 1 - kr - kb
    expected = np.array([[ys, 0, 2 * (1 - kr) * cs],
                         [ys, -2 * (1 - kb) * kb / kg * cs, -2 * (1 - kr) * kr / kg * cs],
                         [ys, 2 * (1 - kb) * cs, 0]]) * 256
    matrix, bias = YUV_TO_RGB[name]
    assert np.abs(np.array(matrix) - expected).max() <= 1.5
    assert bias == ((16, 128, 128) if name.endswith("narrow") else (0, 128, 128))


@pytest.mark.parametrize("name", sorted(RGB_TO_YUV))
def test_rgb_to_yuv_tables_invert_yuv_to_rgb(name):
    forward = np.array(RGB_TO_YUV[name][0]) / 256
    back = np.array(YUV_TO_RGB[name][0]) / 256
    assert np.abs(back @ forward - np.eye(3)).max() < 0.02


# ---- from a DeploySpec -------------------------------------------------------------------------------

def aipp_spec(**pre) -> DeploySpec:
    preprocess = {"where": "aipp", "color": "rgb", "mean": [127.0], "std": [128.0]}
    preprocess.update(pre)
    return DeploySpec.from_dict({"model": "m.onnx", "inputs": [{"name": "x", "shape": [1, 3, 224, 224]}],
                                 "preprocess": preprocess})


def test_aipp_from_spec_and_device_shape():
    config = aipp_from_spec(aipp_spec(device_format="bgr", device_size=[200, 224]), "x")
    assert config.rbuv_swap_switch and config.bottom_padding_size == 24
    assert (config.mean_chn_0, config.var_reci_chn_0) == (127, 1 / 128)
    assert config.padding_value == pytest.approx((114 - 127) / 128)
    assert device_input_shape(config, [1, 3, 224, 224]) == [1, 200, 224, 3]
    nv12 = aipp_from_spec(aipp_spec(device_format="nv12"), "x")
    assert device_input_shape(nv12, [1, 3, 224, 224]) == [1, 336, 224, 1]


def test_aipp_from_spec_with_dynamic_image_size_turns_crop_and_padding_off():
    spec = DeploySpec.from_dict({"model": "m.onnx", "inputs": [{"name": "x", "shape": [1, 3, -1, -1]}],
                                 "dynamic": {"mode": "image_size", "gears": [[224, 224], [320, 320]]},
                                 "preprocess": {"where": "aipp", "std": [255.0]}})
    config = aipp_from_spec(spec, "x")
    assert (config.src_image_size_w, config.src_image_size_h, config.crop, config.padding) == (0, 0, False, False)


def test_aipp_from_spec_refuses_what_aipp_cannot_feed():
    with pytest.raises(UserError, match="not 'aipp'"):
        aipp_from_spec(DeploySpec.from_dict({"model": "m.onnx"}), "x")
    with pytest.raises(UserError, match="no input 'y'"):
        aipp_from_spec(aipp_spec(), "y")
    with pytest.raises(UserError, match="mean"):
        aipp_from_spec(aipp_spec(mean=[-1.0]), "x")


def test_emulate_refuses_wrong_images():
    config = aipp_for((8, 8), "rgb", "rgb")
    with pytest.raises(UserError, match="uint8"):
        emulate(config, np.zeros((8, 8, 3), np.float32))
    with pytest.raises(UserError, match="takes 8x8"):
        emulate(config, np.zeros((8, 10, 3), np.uint8))
    with pytest.raises(UserError, match=r"\(H, W, 3\)"):
        emulate(config, np.zeros((8, 8), np.uint8))


def test_a_one_channel_model_reads_channel_0_of_the_gray_csc(assets):
    rgb = photo(assets, "coffee.png", (64, 96))
    config = aipp_for((64, 96), "gray", "rgb", mean=[128], std=[64])
    every = emulate(config, rgb)
    gray = emulate(config, rgb, channels=1)
    assert every.shape == (3, 64, 96) and gray.shape == (1, 64, 96)
    assert np.array_equal(gray[0], every[0])
    expected = (rgb.astype(int) @ np.array([76, 150, 30])) >> 8
    assert np.allclose(gray[0], (expected - 128) / 64, atol=1e-3)
    planes = np.concatenate([expected.astype(np.uint8), np.full((32, 96), 128, np.uint8)])  # NV12, neutral UV
    yuv = emulate(aipp_for((64, 96), "gray", "nv12"), planes, "uint8", channels=1)
    assert yuv.shape == (1, 64, 96) and np.array_equal(yuv[0], expected)
    with pytest.raises(UserError, match="gives 1 channel.*takes 3"):
        emulate(aipp_for((64, 96), "gray", "gray"), expected.astype(np.uint8), channels=3)


def test_a_dynamic_height_stays_dynamic_in_the_yuv420sp_device_shape():
    from omdeploy.ascend.aipp import AippConfig, device_input_shape

    config = AippConfig(aipp_mode="static", input_format="YUV420SP_U8")
    assert device_input_shape(config, [1, 3, -1, -1]) == [1, -1, -1, 1]
    assert device_input_shape(config, [1, 3, 640, 480]) == [1, 960, 480, 1]


def test_configs_map_to_inputs_by_rank_and_a_rank_past_the_inputs_is_an_error():
    from omdeploy.ascend.aipp import AippConfig, configs_by_input
    from omdeploy.errors import UserError

    first, second = AippConfig(aipp_mode="static"), AippConfig(aipp_mode="static", related_input_rank=1)
    assert configs_by_input([first, second], ["image", "mask"]) == {"image": first, "mask": second}
    with pytest.raises(UserError, match="related_input_rank 1 but the model has 1 input"):
        configs_by_input([second], ["image"], "aipp.cfg")
