"""omdeploy aipp make / check / emulate on real images."""
from __future__ import annotations

import json

import numpy as np

from omdeploy.ascend.aipp import aipp_for, emulate, parse_aipp
from omdeploy.tasks.image import load_image


def test_make_from_intent_writes_the_seed_like_config(cli, tmp_path):
    out = tmp_path / "aipp.cfg"
    result = cli("aipp", "make", "--model-size", "640x640", "--feed", "bgr", "--feed-size", "624x640",
                 "--std", "255", "-o", out, "--json")
    assert result.code == 0, result.err
    (config,) = parse_aipp(out.read_text())
    assert config == aipp_for((640, 640), "rgb", "bgr", (624, 640), std=[255])
    assert json.loads(result.out)["blocks"][0]["output_hw"] == [640, 640]


def test_make_refuses_bad_sizes_and_padding(cli):
    assert cli("aipp", "make", "--model-size", "640").code == 2
    result = cli("aipp", "make", "--model-size", "640x640", "--feed-size", "600x640")
    assert result.code == 2 and "bottom_padding_size" in result.err


def test_check_finds_a_model_size_mismatch(cli, tmp_path):
    path = tmp_path / "a.cfg"
    cli("aipp", "make", "--model-size", "224x224", "-o", path)
    assert cli("aipp", "check", path, "--model-size", "224x224").code == 0
    result = cli("aipp", "check", path, "--model-size", "224x200", "--json")
    assert result.code == 1
    assert "the model input is 224x200" in json.loads(result.out)["blocks"][0]["problems"][0]
    path.write_text("aipp_op { aipp_mode: static input_format: RGB888_U8 padding: true top_padding_size: 33 }")
    result = cli("aipp", "check", path)
    assert result.code == 2 and "top_padding_size: expected a value in [0, 32], got 33" in result.err


def test_emulate_an_image_file(cli, assets, tmp_path):
    path, saved = tmp_path / "a.cfg", tmp_path / "x.npy"
    cli("aipp", "make", "--model-size", "300x451", "--model-color", "bgr", "--std", "255", "-o", path)
    result = cli("aipp", "emulate", path, assets.image("chelsea.png"), "-o", saved, "--json")
    assert result.code == 0, result.err
    tensor = np.load(str(saved))
    expected = emulate(aipp_for((300, 451), "bgr", "rgb", std=[255]), load_image(assets.image("chelsea.png")))
    assert np.array_equal(tensor, expected)
    channels = json.loads(result.out)["channels"]
    assert channels[0]["mean"] == float(tensor[0].astype(np.float32).mean())
    assert cli("aipp", "emulate", path, assets.image("coffee.png")).code == 2  # 400x600 is not 300x451
    assert cli("aipp", "emulate", path, assets.image("coffee.png"), "--resize").code == 0
