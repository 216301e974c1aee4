"""omdeploy precision: which nodes must stay fp32, found on the simulator and written as ATC's --keep_dtype file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.needs_onnx]


def overflowing_sum_model(path: Path) -> Path:
    """y = h / sum(h), h = 600 x: for x in [0, 1) the sum of 256 values is about 76800, past fp16's 65504, so on
    a saturating 310P3 the sum becomes 65504 and y comes out 1.17x too large (a scale cosine cannot see)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Mul", ["x", "gain"], ["h"], name="scale"),
             helper.make_node("ReduceSum", ["h"], ["total"], name="total", keepdims=1),
             helper.make_node("Div", ["h", "total"], ["y"], name="normalise")]
    gain = numpy_helper.from_array(np.array(600.0, np.float32), "gain")
    graph = helper.make_graph(nodes, "sum", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256])], [gain])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def write_spec(tmp_path: Path) -> Path:
    from omdeploy.spec import DeploySpec

    overflowing_sum_model(tmp_path / "sum.onnx")
    return DeploySpec.from_dict({"model": "sum.onnx", "target": {"soc_version": "Ascend310P3"}},
                                source="test").save(tmp_path / "deploy.yaml")


def test_precision_names_the_overflowing_reduction_and_the_spec_it_writes_passes_compare(cli, tmp_path):
    spec = write_spec(tmp_path)
    before = cli("compare", spec, "{}@sim".format(spec), "--random", "3", "--json")
    assert before.code == 1  # the saturated sum rescales y: RelativeEuclideanDistance ~0.15
    failed = {c["metric"] for c in json.loads(before.out)["outputs"][0]["checks"] if c["passed"] is False}
    assert "RelativeEuclideanDistance" in failed

    keep, fixed = tmp_path / "keep.cfg", tmp_path / "fixed.yaml"
    result = cli("precision", spec, "--random", "3", "-o", keep, "--save-spec", fixed, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["passed"] and "total" in data["kept"]
    assert data["steps"][0]["kept"] == "total" and data["steps"][0]["op_type"] == "ReduceSum"
    assert data["cost"]["nodes"] == len(data["kept"]) and data["cost"]["op_types"]["ReduceSum"] == 1
    assert keep.read_text().splitlines() == data["kept"]  # ATC's --keep_dtype format: one op name a line

    after = cli("compare", fixed, "{}@sim".format(fixed), "--random", "3", "--json")
    assert after.code == 0, after.out
    assert json.loads(after.out)["target_info"]["kept_fp32"].get("ReduceSum") == 1

    table = cli("precision", spec, "--random", "3", "-o", tmp_path / "keep2.cfg")
    assert table.code == 0 and "total" in table.out and "ReduceSum" in table.out


def test_the_simulator_honours_keep_dtype_by_name_and_by_op_type(tmp_path):
    from omdeploy.runtime.session import Session
    from omdeploy.spec import DeploySpec

    overflowing_sum_model(tmp_path / "sum.onnx")
    x = {"x": np.full((1, 256), 0.5, np.float32)}  # h = 300, sum = 76800
    results = {}
    for label, text in (("none", None), ("names", "total\nnormalise\n"), ("types", "OpType::ReduceSum\nOpType::Div\n")):
        options = {}
        if text is not None:
            (tmp_path / (label + ".cfg")).write_text(text)
            options = {"keep_dtype": label + ".cfg"}
        spec = DeploySpec.from_dict({"model": "sum.onnx", "atc": {"options": options}}, source="t",
                                    base_dir=str(tmp_path))
        with Session(tmp_path / "sum.onnx", backend="sim", spec=spec) as s:
            results[label] = s.run(x)["y"]
    np.testing.assert_allclose(results["none"], 300 / 65504, rtol=1e-3)  # the saturated sum
    np.testing.assert_allclose(results["names"], 1 / 256, rtol=1e-3)
    np.testing.assert_allclose(results["types"], 1 / 256, rtol=1e-3)


def test_precision_refuses_a_mode_with_nothing_in_fp16(cli, tmp_path):
    from omdeploy.spec import DeploySpec

    overflowing_sum_model(tmp_path / "sum.onnx")
    spec = DeploySpec.from_dict({"model": "sum.onnx", "precision_mode": "must_keep_origin_dtype"},
                                source="t").save(tmp_path / "origin.yaml")
    result = cli("precision", tmp_path / "origin.yaml", "--random", "1", "-o", tmp_path / "keep.cfg")
    assert result.code == 2 and "nothing runs in fp16" in result.err and spec
