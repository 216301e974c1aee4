"""What the box's Python environment needs: `run` without the onnx package, and models an older onnxruntime loads.

The edge box often has onnxruntime but not onnx, and an onnxruntime older than the training box's onnx (the last
onnxruntime for Python 3.8, 1.19.2, loads IR <= 10; onnx 1.19 stamps IR 12 on every model it makes). Both were
found by running the box-side suite on aarch64 (scripts/arm64.sh).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.needs_onnx

# onnxruntime's compatibility table (https://onnxruntime.ai/docs/reference/compatibility.html): the oldest
# onnxruntime omdeploy supports (1.14, pyproject) loads IR 8 and opsets up to 18.
OLDEST_BOX_ORT_MAX_IR = 8


def _relu_model(path, opset=13, ir_version=None):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y]),
                              opset_imports=[helper.make_opsetid("", opset)])
    if ir_version is not None:
        model.ir_version = ir_version
    model.metadata_props.add(key="character", value="a\nb\nc")
    onnx.save(model, str(path))
    return path


def test_metadata_is_read_without_onnx_and_equals_onnx_on_every_real_model(assets):
    import onnx

    from omdeploy.onnx.metadata import read_metadata_props

    models = sorted(assets.root.joinpath("models").glob("*.onnx"))
    assert len(models) >= 5
    for path in models:
        expected = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        assert read_metadata_props(path) == expected, path.name
    assert len(read_metadata_props(assets.model("ppocrv4_rec.onnx"))["character"].split("\n")) > 6000


def test_a_truncated_model_is_a_user_error_not_a_crash(tmp_path):
    from omdeploy.errors import UserError
    from omdeploy.onnx.metadata import read_metadata_props

    whole = _relu_model(tmp_path / "whole.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(whole[: len(whole) - 3])
    with pytest.raises(UserError, match="not a complete ONNX model"):
        read_metadata_props(cut)


def _tiny_classifier(path):
    """A 4-class classifier small enough for emulation: mean colour of a 16x16 NCHW image -> linear -> softmax,
    with its class names in metadata 'names' as the Ultralytics exporter writes them."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.array([[4, 0, 0, 1], [0, 4, 0, 1], [0, 0, 4, 1]], np.float32), "w")
    nodes = [helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 4])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.metadata_props.add(key="names", value="{0: 'red', 1: 'green', 2: 'blue', 3: 'grey'}")
    onnx.save(model, str(path))
    return path


def test_run_works_with_onnxruntime_alone(tmp_path):
    """`omdeploy run` with the onnx package hidden, as on a box that has onnxruntime only: the labels come from the
    model's own metadata."""
    from PIL import Image

    model = _tiny_classifier(tmp_path / "tiny.onnx")
    image = tmp_path / "blue.png"
    Image.new("RGB", (40, 30), (10, 20, 250)).save(image)
    out = tmp_path / "out"
    script = textwrap.dedent("""
        import sys
        sys.modules["onnx"] = None      # import onnx -> ImportError, as where it is not installed
        sys.modules["onnxslim"] = None
        from omdeploy.cli.main import main
        sys.argv = ["omdeploy", "run", {model!r}, {image!r}, "--task", "classify", "--out", {out!r}]
        main()
    """).format(model=str(model), image=str(image), out=str(out))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    results = [r for r in results if "input" in r]
    assert [r["ok"] for r in results] == [True]
    assert results[0]["result"]["top"][0]["label"] == "blue"


def test_sanitize_stamps_an_ir_version_the_oldest_box_onnxruntime_loads(tmp_path):
    """onnx stamps its own newest IR (12 on onnx 1.19, more since) on every model it makes; the old sanitize kept
    it, so the box's onnxruntime refused the model it was meant to help."""
    import onnx

    from omdeploy.onnx.sanitize import sanitize

    source = _relu_model(tmp_path / "new_onnx.onnx")
    assert onnx.load(str(source)).ir_version > OLDEST_BOX_ORT_MAX_IR  # as the onnx package writes it
    sanitize(source, tmp_path / "out.onnx", verify=False)
    written = onnx.load(str(tmp_path / "out.onnx"))
    assert written.ir_version <= OLDEST_BOX_ORT_MAX_IR
    onnx.checker.check_model(written)


@pytest.mark.parametrize("opset, ir", [(9, 4), (11, 6), (13, 7), (17, 8), (18, 8)])
def test_the_lowest_ir_version_follows_onnx_release_table(tmp_path, opset, ir):
    """onnx/docs/Versioning.md's release table: opset 9 came with IR 4 (ONNX 1.4), 11 with IR 6 (1.6),
    13 with IR 7 (1.8), 17 and 18 with IR 8 (1.12, 1.13)."""
    import onnx

    from omdeploy.onnx.irversion import lowest_ir_version

    model = onnx.load(str(_relu_model(tmp_path / "m.onnx", opset=opset)))
    assert lowest_ir_version(model) == ir


def test_a_float8_model_keeps_the_ir_version_float8_needs(tmp_path):
    """Types gate the IR too: FLOAT8E4M3FN came with IR 9 (onnx.proto), so it must not be stamped 8."""
    import onnx
    from onnx import TensorProto, helper

    from omdeploy.onnx.irversion import lowest_ir_version

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT8E4M3FN, [2])
    model = helper.make_model(helper.make_graph([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT8E4M3FN)],
                                                "f8", [x], [y]), opset_imports=[helper.make_opsetid("", 19)])
    assert lowest_ir_version(model) == 9
    assert lowest_ir_version(onnx.load_from_string(model.SerializeToString())) == 9


@pytest.mark.needs_torch
def test_export_stamps_an_ir_version_the_oldest_box_onnxruntime_loads(tmp_path):
    import onnx
    import torch

    from omdeploy.onnx.export import export

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    export(net, torch.randn(1, 3, 8, 8), tmp_path / "ts.onnx", opset=17)
    model = onnx.load(str(tmp_path / "ts.onnx"))
    assert model.ir_version <= OLDEST_BOX_ORT_MAX_IR
    import onnxruntime as ort

    out = ort.InferenceSession(str(tmp_path / "ts.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {model.graph.input[0].name: np.ones((1, 3, 8, 8), np.float32)})
    assert out[0].shape == (1, 4, 6, 6)


def test_run_then_resume_on_the_box_sized_model(cli, tmp_path):
    """Run and --resume at a size emulation can afford: the second run does only the inputs added since."""
    from PIL import Image

    model = _tiny_classifier(tmp_path / "tiny.onnx")
    photos = tmp_path / "in"
    photos.mkdir()
    colours = {"red": (250, 10, 10), "green": (10, 250, 10), "blue": (10, 10, 250)}
    for name, rgb in colours.items():
        Image.new("RGB", (24, 20), rgb).save(photos / (name + ".png"))
    out = tmp_path / "out"
    first = cli("run", model, photos, "--task", "classify", "--out", out, "--json")
    assert first.code == 0, first.err
    Image.new("RGB", (24, 20), (10, 10, 250)).save(photos / "blue2.png")
    second = cli("run", model, photos, "--task", "classify", "--out", out, "--resume", "--json")
    assert second.code == 0, second.err
    summary = json.loads(second.out)["summary"]
    assert summary["skipped"] == 3 and summary["processed"] == 1
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    labels = {Path(r["input"]).stem: r["result"]["top"][0]["label"] for r in lines if "input" in r}
    assert labels == {"red": "red", "green": "green", "blue": "blue", "blue2": "blue"}
