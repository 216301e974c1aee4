from __future__ import annotations

import json

import pytest

from omdeploy.spec import DeploySpec, FileRef, SchemaError, Sidecar

GOOD = """
model: det.onnx
target: {soc_version: ascend310p3, cann: 8.0.RC3}
inputs:
  - {name: images, shape: [1, 3, -1, -1], dtype: float16, layout: NCHW}
dynamic: {mode: image_size, gears: [[640, 640], [960, 960]]}
preprocess: {color: bgr, resize: letterbox, pad_value: 114, mean: [0], std: [255]}
task: detect
labels: [person, car]
"""


def write(tmp_path, text, name="deploy.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_loads_yaml_and_normalises_choices(tmp_path):
    spec = DeploySpec.load(write(tmp_path, GOOD))
    assert spec.target.soc_version == "Ascend310P3"  # case-insensitive, normalised to the canonical spelling
    assert spec.target.cann == "8.0.RC3"
    assert spec.inputs[0].dynamic_axes == [2, 3]
    assert spec.dynamic.gear_tuples() == [(640, 640), (960, 960)]
    assert spec.model_path == (tmp_path / "det.onnx").resolve()
    assert spec.label_names() == ["person", "car"]


def test_yaml_float_cann_version_is_read_as_text(tmp_path):
    spec = DeploySpec.load(write(tmp_path, "model: m.onnx\ntarget: {cann: 8.0}\n"))
    assert spec.target.cann == "8.0"


def test_round_trips_through_yaml_and_json(tmp_path):
    spec = DeploySpec.load(write(tmp_path, GOOD))
    for name in ("again.yaml", "again.json"):
        again = DeploySpec.load(spec.save(tmp_path / name))
        assert again == spec


def test_unknown_key_has_did_you_mean(tmp_path):
    with pytest.raises(SchemaError) as err:
        DeploySpec.load(write(tmp_path, "model: m.onnx\npreprocess: {colour: rgb}\n"))
    assert "preprocess.colour: unknown key (did you mean 'color'?)" in str(err.value)


def test_every_problem_is_listed_in_one_line(tmp_path):
    text = ("model: m.onnx\ntarget: {soc_version: Ascend310P9}\ninputs: [{name: x, layout: NHCW}]\n"
            "preprocess: {pad_value: 300}\n")
    with pytest.raises(SchemaError) as err:
        DeploySpec.load(write(tmp_path, text))
    message = str(err.value)
    assert "\n" not in message
    assert len(err.value.problems) == 3
    assert "target.soc_version: expected one of" in message and "got 'Ascend310P9'" in message
    assert "inputs[0].layout" in message and "got 'NHCW' (did you mean 'NHWC'?)" in message
    assert "preprocess.pad_value: expected a value in [0, 255], got 300" in message


def test_required_and_type_errors(tmp_path):
    with pytest.raises(SchemaError) as err:
        DeploySpec.from_dict({"inputs": [{"shape": "1,3"}]})
    message = str(err.value)
    assert "model: required key is missing" in message
    assert "inputs[0].name: required key is missing" in message
    assert "inputs[0].shape: expected list of" in message


@pytest.mark.parametrize("gears, fragment", [
    ([[640, 640]], "ATC takes 2 to 100 gears, got 1"),
    ([[i, i] for i in range(1, 102)], "got 101"),
    ([1, 2], "image_size gears are [h, w] pairs"),
])
def test_gear_rules(gears, fragment):
    with pytest.raises(SchemaError) as err:
        DeploySpec.from_dict({"model": "m.onnx", "inputs": [{"name": "x", "shape": [1, 3, -1, -1]}],
                              "dynamic": {"mode": "image_size", "gears": gears}})
    assert fragment in str(err.value)


def test_preprocess_cross_field_rules():
    with pytest.raises(SchemaError) as err:
        DeploySpec.from_dict({"model": "m.onnx", "preprocess": {"mean": [1, 2], "std": [0]}})
    assert "mean: expected 1 or 3 values" in str(err.value)
    assert "zero std" in str(err.value)


def test_labels_file_relative_to_spec(tmp_path):
    (tmp_path / "names.txt").write_text("cat\ndog\n")
    spec = DeploySpec.load(write(tmp_path, "model: m.onnx\nlabels: names.txt\n"))
    assert spec.label_names() == ["cat", "dog"]


def test_bad_documents_are_one_line_user_errors(tmp_path):
    from omdeploy.errors import UserError

    with pytest.raises(UserError, match="does not exist"):
        DeploySpec.load(tmp_path / "nope.yaml")
    with pytest.raises(UserError, match="invalid YAML at line 2"):
        DeploySpec.load(write(tmp_path, "model: m.onnx\n  bad: [\n"))
    with pytest.raises(UserError, match="top level: expected a mapping"):
        DeploySpec.load(write(tmp_path, "- a\n- b\n"))


def test_sidecar_round_trip(tmp_path):
    spec = DeploySpec.from_dict({"model": "m.onnx", "inputs": [{"name": "x", "shape": [1, 3, 8, 8]}]})
    car = Sidecar(built=False, source=FileRef("m.onnx", "ab" * 32), result=FileRef("m_Ascend310P3.om"),
                  soc_version="Ascend310P3", cann_version="8.0.0", atc_argv=["atc", "--framework=5"],
                  inputs=spec.inputs, spec=spec.to_dict())
    path = car.save(Sidecar.path_for(tmp_path / "m_Ascend310P3.om"))
    assert path.name == "m_Ascend310P3.om.json"
    assert json.loads(path.read_text())["built"] is False
    again = Sidecar.load(path)
    assert again == car
    assert again.deploy_spec().inputs[0].shape == [1, 3, 8, 8]


def test_schema_lists_every_key():
    lines = "\n".join(DeploySpec.schema_lines())
    for key in ("soc_version", "layout", "gears", "letterbox", "precision_mode", "labels", "where"):
        assert key in lines
    assert "base_dir" not in lines


@pytest.mark.needs_onnx
def test_init_never_overwrites_the_model_or_writes_into_a_folder(cli, tmp_path):
    from tests.runtime.tiny_models import scale_model

    model = scale_model(tmp_path / "m.onnx")
    before = model.read_bytes()
    r = cli("spec", "--init", model, "-o", model)
    assert r.code == 2 and "would overwrite the input" in r.err
    assert model.read_bytes() == before
    r = cli("spec", "--init", model, "-o", tmp_path)
    assert r.code == 2 and "is a folder" in r.err and "internal error" not in r.err


def test_validating_an_onnx_model_points_to_init(cli, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"\x08\x07\x12\x00\xc0")
    r = cli("spec", model)
    assert r.code == 2 and "is an ONNX model; expected a spec" in r.err and "spec --init" in r.err
