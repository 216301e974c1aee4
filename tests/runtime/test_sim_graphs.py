"""The simulator's graph handling, one crafted model per bug: folded outputs, opsets ATC refuses, exact shape and
scale inputs, Cast, bfloat16, the ops allow_mix_precision keeps."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omdeploy.errors import UserError
from omdeploy.runtime.session import Session
from omdeploy.spec import DeploySpec

pytestmark = [pytest.mark.needs_onnx]


def save(path: Path, nodes, inputs, outputs, initializers=(), opset: int = 13) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(initializers)),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.save(model, str(path))
    return path


def spec(model: Path, **fields) -> DeploySpec:
    return DeploySpec.from_dict(dict({"model": str(model)}, **fields), source="test spec")


def tensor(name, shape, elem=None):
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT if elem is None else elem, shape)


def test_a_graph_output_folded_into_a_constant_is_returned(tmp_path):
    from onnx import helper, numpy_helper

    two = numpy_helper.from_array(np.array([2.0, 3.0], np.float32), "two")
    model = save(tmp_path / "folded.onnx",
                 [helper.make_node("Add", ["two", "two"], ["const"]), helper.make_node("Relu", ["x"], ["y"])],
                 [tensor("x", [2])], [tensor("y", [2]), tensor("const", [2])], [two])
    with Session(model, backend="sim", spec=spec(model)) as s:
        out = s.run({"x": np.array([-1.0, 1.0], np.float32)})
    np.testing.assert_array_equal(out["const"], [4.0, 6.0])
    np.testing.assert_array_equal(out["y"], [0.0, 1.0])


@pytest.mark.parametrize("opset", [5, 7, 21])
def test_opsets_check_says_atc_refuses_are_refused_with_checks_rule(opset, tmp_path):
    from onnx import helper

    from omdeploy.onnx.check_rules import opset_range

    model = save(tmp_path / "relu.onnx", [helper.make_node("Relu", ["x"], ["y"])], [tensor("x", [2])],
                 [tensor("y", [2])], opset=opset)
    low, high = opset_range("8.0.0").accepted  # check's opset-range rule for the default CANN
    assert not low <= opset <= high
    with pytest.raises(UserError) as refused:
        Session(model, backend="sim", spec=spec(model, target={"cann": "8.0.0"}))
    message = str(refused.value)
    assert "ai.onnx opset {} is outside the opsets CANN 8.0.0's ATC parses (v{}-v{})".format(opset, low, high) \
        in message and "\n" not in message


def test_resize_scales_stay_exact_so_the_output_shape_is_the_onnx_one(tmp_path):
    from onnx import helper, numpy_helper

    # scale 0.8 on 5 px: floor(5 * 0.8) = 4; rounded to fp16 (0.7998) it would give 3
    assert float(np.float16(0.8)) < 0.8 and int(5 * float(np.float16(0.8))) == 3
    scales = numpy_helper.from_array(np.array([1, 1, 0.8, 0.8], np.float32), "scales")
    roi = numpy_helper.from_array(np.zeros(0, np.float32), "roi")
    model = save(tmp_path / "resize.onnx", [helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="nearest")],
                 [tensor("x", [1, 1, 5, 5])], [tensor("y", None)], [roi, scales])
    x = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)
    with Session(model, backend="sim", spec=spec(model)) as s:
        y = s.run({"x": x})["y"]
    assert y.shape == (1, 1, 4, 4)


def test_a_float_to_int_cast_of_an_fp32_value_is_not_rounded_through_fp16(tmp_path):
    from onnx import TensorProto, helper

    model = save(tmp_path / "cast.onnx", [helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT32)],
                 [tensor("x", [3])], [tensor("i", [3], TensorProto.INT32)])
    x = np.array([2049.0, 4097.0, -3.7], np.float32)  # fp16 would hold 2048, 4096
    with Session(model, backend="sim", spec=spec(model)) as s:
        np.testing.assert_array_equal(s.run({"x": x})["i"], [2049, 4097, -3])  # ONNX Cast truncates


def test_a_bfloat16_cast_is_refused_in_one_line(tmp_path):
    from onnx import TensorProto, helper

    model = save(tmp_path / "bf16.onnx", [helper.make_node("Cast", ["x"], ["h"], to=TensorProto.BFLOAT16, name="to_bf16"),
                                          helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT)],
                 [tensor("x", [2])], [tensor("y", [2])])
    with pytest.raises(UserError) as refused:
        Session(model, backend="sim", spec=spec(model))
    assert "bfloat16 (to_bf16)" in str(refused.value) and "\n" not in str(refused.value)


def test_allow_mix_precision_lists_the_ops_it_keeps_in_fp32(tmp_path):
    from onnx import helper

    model = save(tmp_path / "mix.onnx", [helper.make_node("Exp", ["x"], ["e"]),
                                         helper.make_node("Softmax", ["e"], ["s"], axis=-1),
                                         helper.make_node("Relu", ["s"], ["y"])],
                 [tensor("x", [1, 4])], [tensor("y", [1, 4])])
    with Session(model, backend="sim", spec=spec(model, precision_mode="allow_mix_precision")) as s:
        facts = s.describe()
    assert facts["kept_fp32"] == {"Exp": 1, "Softmax": 1} and facts["fp16_nodes"] == 1


def test_ops_inside_if_bodies_are_rounded_like_the_main_graph(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    # then: (x * x) / 1000, the square saturating on a 310P3 (300^2 = 90000 -> 65504) before the division;
    # else: x / 1000 (no overflow). Only rounding inside the branch shows the saturation: If's output is 65.5, not 90
    k = numpy_helper.from_array(np.array(1000.0, np.float32), "k")
    then = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["sq"], name="body_square"),
                              helper.make_node("Div", ["sq", "k"], ["scaled"], name="body_div")], "then", [],
                             [tensor("scaled", [2])])
    other = helper.make_graph([helper.make_node("Div", ["x", "k"], ["plain"], name="body_plain")], "else", [],
                              [tensor("plain", [2])])
    model = save(tmp_path / "if.onnx", [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
                 [tensor("c", [], TensorProto.BOOL), tensor("x", [2])], [tensor("y", [2])], [k])
    x = np.array([300.0, 2.0], np.float32)
    with Session(model, backend="sim", spec=spec(model, target={"soc_version": "Ascend310P3"})) as s:
        squared = s.run({"c": np.array(True), "x": x})["y"]
        plain = s.run({"c": np.array(False), "x": x})["y"]
    half = lambda v: float(np.float16(v))  # noqa: E731
    np.testing.assert_array_equal(squared, [half(65504.0 / 1000), half(4.0 / 1000)])
    np.testing.assert_array_equal(plain, [half(0.3), half(0.002)])


def test_a_string_model_is_refused_in_one_line(tmp_path):
    """ONNX's own StringNormalizer case: strings are not simulated (onnxruntime's string kernels also need the
    machine's locales, which made this case crash on a box without language packs)."""
    import onnx
    from onnx import TensorProto, helper

    from omdeploy.errors import UserError
    from omdeploy.runtime import Session

    node = helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action="UPPER", locale="en_US")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.STRING, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.STRING, [3])])
    path = tmp_path / "strings.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(UserError, match="input 'x' is a string tensor"):
        Session(str(path), backend="sim")
