"""One peak device-memory figure: check, the simulator and convert print the same one for the same spec; and
`convert --from-atc --save-spec` writes paths relative to the spec file."""
from __future__ import annotations

import json
import os

import pytest
import yaml

pytestmark = [pytest.mark.needs_onnx, pytest.mark.needs_assets]


def test_check_sim_and_convert_print_the_same_peak(cli, assets, tmp_path):
    from omdeploy import Session
    from omdeploy.spec import DeploySpec

    (tmp_path / "det.onnx").symlink_to(assets.model("ppocrv4_det.onnx"))
    spec_file = tmp_path / "det.yaml"
    spec_file.write_text(yaml.safe_dump({
        "model": "det.onnx", "target": {"soc_version": "Ascend310B4"},
        "inputs": [{"name": "x", "shape": [1, 3, -1, -1], "dtype": "float16"}],
        "dynamic": {"mode": "image_size", "gears": [[640, 640], [1280, 1280]]}}))
    r = cli("check", spec_file, "--json")
    assert r.code == 0, r.out
    checked = json.loads(r.out)["facts"]["memory"]
    with Session(str(tmp_path / "det.onnx"), backend="sim", spec=DeploySpec.load(spec_file)) as s:
        simulated = s.describe()["memory"]
    r = cli("convert", spec_file, "--plan", "-o", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    converted = json.loads(r.out)["memory"]
    assert checked["total"] == simulated["total"] == converted["total"] > 0
    assert checked["inputs"]["x"] == 3 * 1280 * 1280 * 2  # the largest gear, in float16
    mib = "{:.1f} MiB".format(checked["total"] / 2 ** 20)
    assert mib in cli("check", spec_file).out and mib in cli("convert", spec_file, "--plan", "-o",
                                                              tmp_path / "out").out


def test_from_atc_save_spec_paths_are_relative_to_the_spec_file(cli, assets, tmp_path, monkeypatch):
    from omdeploy.spec import DeploySpec

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sq.onnx").symlink_to(assets.model("light_squeezenet.onnx"))
    monkeypatch.chdir(tmp_path)
    command = ("atc --model=models/sq.onnx --framework=5 --output=sq --soc_version=Ascend310P3 "
               "--input_shape=data_0:1,3,224,224")
    (tmp_path / "specs").mkdir()
    r = cli("convert", "--from-atc", command, "--plan", "-o", tmp_path / "out", "--save-spec",
            tmp_path / "specs" / "sq.yaml")
    assert r.code == 0, r.err
    doc = yaml.safe_load((tmp_path / "specs" / "sq.yaml").read_text())
    assert doc["model"] == "../models/sq.onnx"
    assert DeploySpec.load(tmp_path / "specs" / "sq.yaml").model_path == (tmp_path / "models" / "sq.onnx").resolve()
    assert os.path.isfile(str(tmp_path / "specs" / doc["model"]))
