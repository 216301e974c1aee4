"""Wrong specs of every class the issue lists: `omdeploy spec` refuses each (exit 2, every problem named), and
every spec it calls valid is planned by `convert --plan` (one rule set)."""
from __future__ import annotations

import copy

import pytest
import yaml

from omdeploy.ascend.convert import convert
from omdeploy.errors import UserError
from omdeploy.spec import DeploySpec

pytestmark = [pytest.mark.needs_onnx, pytest.mark.needs_assets]

# light_squeezenet.onnx: data_0 [1, 3, 224, 224] -> softmaxout_1 [1, 1000, 1, 1] (`omdeploy inspect`)
STATIC = {"model": "squeezenet.onnx", "target": {"soc_version": "Ascend310P3", "cann": "8.0"},
          "inputs": [{"name": "data_0", "shape": [1, 3, 224, 224]}], "outputs": [{"name": "softmaxout_1"}],
          "task": "classify", "labels": ["c{}".format(i) for i in range(1000)],
          "preprocess": {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]}}
# ppocr_mobile_v2_cls.onnx: x [-1, 3, ?, ?] -> [-1, 2]
DYNAMIC = {"model": "cls.onnx", "inputs": [{"name": "x", "shape": [-1, 3, 48, 192]}],
           "dynamic": {"mode": "batch", "gears": [1, 2, 4]}, "task": "ocr-cls"}


def _set(doc, path, value):
    keys = path.split(".")
    node = doc
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


WRONG = [  # (base, key, value, words the problem names)
    (STATIC, "inputs.0.name", "images", "'images' is not an input"),
    (STATIC, "outputs.0.name", "logits", "'logits' is not an output"),
    (STATIC, "inputs.0.shape", [1, 3, 224], "3 dims"),
    (STATIC, "inputs.0.shape", [1, 3, 320, 320], "contradicts the model's fixed size 224"),
    (DYNAMIC, "dynamic.gears", [0, -2, 4], "positive size"),
    (STATIC, "labels", ["cat", "dog"], "2 names, but the model's output has 1000 classes"),
    (STATIC, "model", "missing.onnx", "does not exist"),
    (STATIC, "preprocess.mean", [float("inf"), 0, 0], "finite"),
    # the field report's encodeModel: a static graph behind dims gears
    (STATIC, "inputs.0.shape", [1, 3, -1, -1], "the model is static there"),
]


@pytest.fixture
def folder(tmp_path, assets):
    for name, asset in (("squeezenet.onnx", "light_squeezenet.onnx"), ("cls.onnx", "ppocr_mobile_v2_cls.onnx")):
        (tmp_path / name).symlink_to(assets.model(asset))
    return tmp_path


def _write(folder, doc):
    path = folder / "deploy.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _wrong(base, key, value):
    doc = copy.deepcopy(base)
    _set(doc, key, value)
    if key == "inputs.0.shape" and -1 in value:
        doc["dynamic"] = {"mode": "dims", "gears": [[3040, 4064], [1088, 1952]]}
    return doc


@pytest.mark.parametrize("base,key,value,words", WRONG, ids=[w[3][:30] for w in WRONG])
def test_spec_refuses_each_wrong_class_and_convert_agrees(cli, folder, base, key, value, words):
    path = _write(folder, _wrong(base, key, value))
    r = cli("spec", path)
    assert r.code == 2, r.out
    assert words in r.err and "Traceback" not in r.err
    with pytest.raises(UserError):
        convert(DeploySpec.load(path), out_dir=folder / "out", plan=True)


def test_every_problem_is_listed_at_once(cli, folder):
    doc = _wrong(STATIC, "inputs.0.name", "images")
    _set(doc, "outputs.0.name", "logits")
    r = cli("spec", _write(folder, doc))
    assert r.code == 2 and "2 problem(s)" in r.err and "'images'" in r.err and "'logits'" in r.err


@pytest.mark.parametrize("base", [STATIC, DYNAMIC], ids=["static", "batch-gears"])
def test_valid_specs_are_planned_by_convert(cli, folder, base):
    path = _write(folder, base)
    r = cli("spec", path)
    assert r.code == 0, r.err
    result = convert(DeploySpec.load(path), out_dir=folder / "out", plan=True)
    assert result.status == "planned"
