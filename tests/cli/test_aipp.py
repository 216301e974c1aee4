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


def test_make_refuses_bad_normalisation_and_matrix_in_one_line(cli, tmp_path):
    for args, fragment in ((("--mean", "1,2"), "mean: expected 1 or 3 values"),
                           (("--std", "0"), "std: expected values > 0"),
                           (("--std", "-1"), "std: expected values > 0"),
                           (("--model-color", "gray", "--mean", "1,2,3"), "mean: expected 1 value"),
                           (("--feed", "nv12", "--yuv-matrix", "bt709"), "did you mean 'bt709_")):
        r = cli("aipp", "make", "--model-size", "64x64", *args)
        assert r.code == 2 and r.err.startswith("error: ") and fragment in r.err, (args, r.err)
    r = cli("aipp", "make", "--model-size", "64x64", "-o", tmp_path)
    assert r.code == 2 and "is a folder" in r.err


def test_check_and_emulate_refuse_binary_files(cli, tmp_path):
    binary = tmp_path / "aipp.cfg"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    for args in (("check", binary), ("emulate", binary, binary)):
        r = cli("aipp", *args)
        assert r.code == 2 and "is not an AIPP config" in r.err and "internal error" not in r.err, r.err
    r = cli("aipp", "check", tmp_path)
    assert r.code == 2 and "is not a file" in r.err


def test_make_from_a_spec_needs_an_aipp_spec_and_no_competing_options(cli, tmp_path):
    host = tmp_path / "host.yaml"
    host.write_text("model: m.onnx\ninputs: [{name: x, shape: [1, 3, 64, 64]}]\n")
    r = cli("aipp", "make", "--spec", host)
    assert r.code == 2 and "runs on the host" in r.err and "no input has a 4-D shape" not in r.err
    aipp = tmp_path / "aipp.yaml"
    aipp.write_text("model: m.onnx\ninputs: [{name: x, shape: [1, 3, 64, 64]}]\npreprocess: {where: aipp}\n")
    assert cli("aipp", "make", "--spec", aipp).code == 0
    r = cli("aipp", "make", "--spec", aipp, "--model-size", "32x32")
    assert r.code == 2 and r.err.startswith("error: --spec and --model-size")
    r = cli("aipp", "make", "--spec", aipp, "-o", aipp)
    assert r.code == 2 and "would overwrite the input" in r.err and "where: aipp" in aipp.read_text()
