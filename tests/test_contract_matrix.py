"""The device contract over a matrix of specs: what `convert --plan` writes in the sidecar, the simulator's
Session inputs, the acl and mindx backends' inputs (the strict fakes, loading the planned .om described as the
sidecar says) and what `run` and `compare` feed are one and the same; `compare SPEC SPEC@sim -i photo` runs on every
single-image spec.

Independent evidence for each row: the expected device inputs are written out by hand from the documented
rules (AIPP makes its input uint8 NHWC, YUV420SP as (N, H*3/2, W, 1), YUV400 one channel, gear dims dynamic,
--input_fp16_nodes float16, ATC maps related_input_rank over the ONNX input order), not read from the code.
"""
from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
yaml = pytest.importorskip("yaml")

from onnx import TensorProto, helper  # noqa: E402

from omdeploy.runtime.session import Session  # noqa: E402
from omdeploy.spec import DeploySpec, PreprocessSpec, Sidecar  # noqa: E402
from tests.fakes import fakes_on_path  # noqa: E402

_ELEM = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16, "int64": TensorProto.INT64}
MEAN = {"mean": [120.0, 115.0, 105.0], "std": [60.0, 58.0, 57.0]}


def _save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def image_model(path, shape, hw_axes=(2, 3)):
    """out = the mean of each channel over H and W: a real image model of any layout and size."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["out"], axes=list(hw_axes), keepdims=0)], "image",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    _save(graph, path)


def meta_then_image_model(path):
    """Two inputs, 'meta' [1, 4] first and the image [1, 3, 16, 16] second (in ONNX order)."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["pooled"], axes=[1, 2, 3], keepdims=0),
         helper.make_node("ReduceMean", ["meta"], ["total"], axes=[1], keepdims=0),
         helper.make_node("Add", ["pooled", "total"], ["out"])],
        "two", [helper.make_tensor_value_info("meta", TensorProto.FLOAT, [1, 4]),
                helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1])])
    _save(graph, path)


def three_input_model(path):
    """sum = a + b (float32 [2, 3]), count = ids (int64 [2]); ONNX order a, b, ids."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Identity", ["ids"], ["count"])], "three",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("count", TensorProto.INT64, [2])])
    _save(graph, path)


def vector_model(path, shape):
    """y = 2 x over an ND input."""
    k = helper.make_tensor("k", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "k"], ["y"])], "vector",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [k])
    _save(graph, path)


def _aipp_file(path, **fields):
    from omdeploy.ascend.aipp import aipp_for, write_aipp

    path.write_text(write_aipp(aipp_for((16, 16), "rgb", fields.pop("device_format", "bgr"), **fields)))
    return path.name


IMAGE = {"name": "image", "shape": [1, 3, 16, 16]}

# name -> (model builder, spec without `model`, expected device inputs [(name, dims with -1, dtype, layout)],
#          whether a photo can be compared)
MATRIX = {
    "static_aipp_bgr": (lambda p: image_model(p, [1, 3, 16, 16]),
                        {"inputs": [IMAGE], "preprocess": dict(MEAN, where="aipp", device_format="bgr")},
                        [("image", [1, 16, 16, 3], "uint8", "NHWC")], True),
    "static_aipp_nv12": (lambda p: image_model(p, [1, 3, 16, 16]),
                         {"inputs": [IMAGE], "preprocess": dict(MEAN, where="aipp", device_format="nv12")},
                         [("image", [1, 24, 16, 1], "uint8", "NHWC")], True),  # YUV420SP: H*3/2 rows
    "static_aipp_gray": (lambda p: image_model(p, [1, 1, 16, 16]),
                         {"inputs": [{"name": "image", "shape": [1, 1, 16, 16]}],
                          "preprocess": {"color": "gray", "mean": [120.0], "std": [60.0], "where": "aipp"}},
                         [("image", [1, 16, 16, 1], "uint8", "NHWC")], True),  # YUV400: one channel
    "aipp_with_image_size_gears": (
        lambda p: image_model(p, [1, 3, "h", "w"]),
        {"inputs": [{"name": "image", "shape": [1, 3, -1, -1]}], "preprocess": dict(MEAN, where="aipp"),
         "dynamic": {"mode": "image_size", "gears": [[16, 16], [32, 32]]}},
        [("image", [1, -1, -1, 3], "uint8", "NHWC")], True),
    "aipp_file_on_the_second_input": (
        meta_then_image_model,
        {"inputs": [IMAGE, {"name": "meta", "shape": [1, 4], "layout": "ND"}],
         "atc": {"insert_op_conf": "nv12.cfg", "input_format": "NCHW"}},
        [("meta", [1, 4], "float32", "ND"), ("image", [1, 24, 16, 1], "uint8", "NHWC")], False),
    "inputs_in_another_order": (
        three_input_model,
        {"inputs": [{"name": "ids", "shape": [2], "dtype": "int64", "layout": "ND"},
                    {"name": "b", "shape": [2, 3], "layout": "ND"}, {"name": "a", "shape": [2, 3], "layout": "ND"}]},
        [("a", [2, 3], "float32", "ND"), ("b", [2, 3], "float32", "ND"), ("ids", [2], "int64", "ND")], False),
    "nd_input": (lambda p: vector_model(p, [1, 10]), {"inputs": [{"name": "x", "shape": [1, 10], "layout": "ND"}]},
                 [("x", [1, 10], "float32", "ND")], False),
    "dims_gears": (lambda p: vector_model(p, ["n", 10]),
                   {"inputs": [{"name": "x", "shape": [-1, 10], "layout": "ND"}], "atc": {"input_format": "ND"},
                    "dynamic": {"mode": "dims", "gears": [[1], [2]]}},
                   [("x", [-1, 10], "float32", "ND")], False),
    "batch_gears": (lambda p: image_model(p, ["n", 3, 16, 16]),
                    {"inputs": [{"name": "image", "shape": [-1, 3, 16, 16]}], "preprocess": MEAN,
                     "dynamic": {"mode": "batch", "gears": [1, 2, 4]}},
                    [("image", [-1, 3, 16, 16], "float32", "NCHW")], True),
    "batch_gears_from_2": (lambda p: image_model(p, ["n", 3, 16, 16]),  # one photo: batch 1, padded to gear 2
                           {"inputs": [{"name": "image", "shape": [-1, 3, 16, 16]}], "preprocess": MEAN,
                            "dynamic": {"mode": "batch", "gears": [2, 4]}},
                           [("image", [-1, 3, 16, 16], "float32", "NCHW")], True),
    "image_size_gears": (lambda p: image_model(p, [1, 3, "h", "w"]),
                         {"inputs": [{"name": "image", "shape": [1, 3, -1, -1]}], "preprocess": MEAN,
                          "dynamic": {"mode": "image_size", "gears": [[32, 32], [16, 16]]}},
                         [("image", [1, 3, -1, -1], "float32", "NCHW")], True),
    "fp16_input": (lambda p: image_model(p, [1, 3, 16, 16]),
                   {"inputs": [dict(IMAGE, dtype="float16")], "preprocess": MEAN},
                   [("image", [1, 3, 16, 16], "float16", "NCHW")], True),
    # dynamic AIPP (a user's aipp_op with aipp_mode: dynamic): the image input takes up to max_src_image_size
    # bytes and ATC adds the input the parameters go through (Huawei's "dynamic AIPP" application guide)
    "dynamic_aipp_file": (lambda p: image_model(p, [1, 3, 16, 16]),
                          {"inputs": [IMAGE], "preprocess": MEAN, "atc": {"insert_op_conf": "dynamic.cfg"}},
                          [("image", [2 * 16 * 16 * 3], "uint8", "ND"),
                           ("ascend_dynamic_aipp_data", [-1], "uint8", "ND")], False),
    "nhwc_input": (lambda p: image_model(p, [1, 16, 16, 3], hw_axes=(1, 2)),
                   {"inputs": [{"name": "image", "shape": [1, 16, 16, 3], "layout": "NHWC"}], "preprocess": MEAN},
                   [("image", [1, 16, 16, 3], "float32", "NHWC")], True),
}
DYNAMIC_AIPP_ROWS = ("dynamic_aipp_file",)


def _dims(shape):
    return [d if isinstance(d, int) and d > 0 else -1 for d in shape]


def _rows(infos):
    return [(i.name, _dims(i.shape), np.dtype(i.dtype).name, i.layout) for i in infos]


@pytest.fixture
def fake_acl():
    """The strict fakes of pyACL and the MindX SDK on the import path, released afterwards."""
    with fakes_on_path():
        yield importlib.import_module("fake_om")
        importlib.import_module("omdeploy.runtime.acl").shutdown()
        importlib.import_module("omdeploy.runtime.mindx").shutdown()


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A real photo, cut to an even size (YUV420SP planes need one)."""
    from PIL import Image

    from omdeploy.assets import asset

    path = tmp_path_factory.mktemp("photo") / "chelsea.png"
    Image.open(asset("images/chelsea.png")).convert("RGB").crop((0, 0, 300, 300)).save(path)
    return path


def _planned(tmp_path, cli, row):
    build, body, _, _ = MATRIX[row]
    build(tmp_path / "model.onnx")
    conf = body.get("atc", {}).get("insert_op_conf")
    if conf == "nv12.cfg":
        _aipp_file(tmp_path / "nv12.cfg", device_format="nv12", related_input_rank=1)  # the 2nd ONNX input
    elif conf == "dynamic.cfg":  # room for two 16x16 RGB pictures
        (tmp_path / conf).write_text("aipp_op {\n  aipp_mode: dynamic\n  max_src_image_size: 1536\n}\n")
    spec_path = tmp_path / "deploy.yaml"
    spec_path.write_text(yaml.safe_dump(dict(body, model="model.onnx")))
    result = cli("convert", spec_path, "--plan", "-o", tmp_path / "out", "--json")
    assert result.code == 0, result.err
    sidecars = list((tmp_path / "out").glob("*.om.json"))
    assert len(sidecars) == 1, json.loads(result.out)
    return spec_path, sidecars[0]


@pytest.mark.parametrize("row", sorted(MATRIX))
def test_sidecar_simulator_acl_run_and_compare_see_one_contract(row, tmp_path, cli, fake_acl, photo):
    _, body, expected, single_image = MATRIX[row]
    spec_path, sidecar_path = _planned(tmp_path, cli, row)
    sidecar = Sidecar.load(sidecar_path)
    assert _rows(sidecar.inputs) == expected  # the hand-written contract

    spec = DeploySpec.load(spec_path)
    with Session(spec_path, backend="sim") as sim:
        assert _rows(sim.inputs) == expected

    # the planned .om, described to the strict fake as ATC would have built it from the sidecar's contract
    om = sidecar_path.with_suffix("")
    fake_acl.write_manifest(
        om, tmp_path / "model.onnx", dynamic=body.get("dynamic"),
        inputs=[dict({"name": i.name, "dims": _dims(i.shape), "dtype": i.dtype,
                      "format": i.layout if i.layout in ("NCHW", "NHWC") else "ND"},
                     **({"size": 4096} if i.name == "ascend_dynamic_aipp_data" else {}))  # any byte size will do
                for i in sidecar.inputs])
    with Session(om, backend="acl") as acl:
        assert _rows(acl.inputs) == expected
    with Session(om, backend="mindx") as mindx:
        assert _rows(mindx.inputs) == expected
    if row in DYNAMIC_AIPP_ROWS:  # nothing here sets AIPP parameters per call: refused in one line, exit 2
        for argv in (("run", spec_path, photo, "--task", "classify", "--backend", "sim"),
                     ("compare", spec_path, "{}@sim".format(spec_path), "-i", photo)):
            result = cli(*argv)
            assert result.code == 2 and "dynamic AIPP" in result.err and "Traceback" not in result.err, result.err
        return

    from omdeploy.tools.compare import device_pixels, feed_infos, make_samples

    with Session(spec_path, backend="onnxruntime") as ref, Session(spec_path, backend="sim") as target:
        infos = feed_infos(ref, target)
        samples = make_samples([photo] if single_image else [], infos, spec, 0, 0, {}, {})
        to_device = device_pixels(target)
        # what reaches the .om: the photo in the side's pixel format, through the Session's input adapter
        fed = {n: target._adapters[n](to_device(n, a) if single_image else a) for n, a in samples[0][1].items()}
    fed_rows = sorted((n, list(a.shape), a.dtype.name) for n, a in fed.items())
    for (name, shape, dtype), (_, dims, want_dtype, _) in zip(fed_rows, sorted(expected)):
        assert dtype == want_dtype and all(d == -1 or d == s for d, s in zip(dims, shape)), (name, shape, dims)

    if single_image:
        from omdeploy.tasks.image import load_image
        from omdeploy.tasks.preprocess import ImagePreprocessor

        with Session(spec_path, backend="sim") as target:
            info = target.inputs[0]
            pre = spec.preprocess or PreprocessSpec()
            size = None if all(isinstance(d, int) for d in info.shape) else (16, 16)
            tensor, _ = ImagePreprocessor(info, pre, spec)(load_image(photo), size)  # what `run` feeds
            dims = expected[0][1]
            assert tensor.dtype.name == expected[0][2]
            assert all(d == -1 or d == s for d, s in zip(dims, tensor.shape)), (tensor.shape, dims)
            target.run([tensor])
        result = cli("compare", spec_path, "{}@sim".format(spec_path), "-i", photo, "--json")
        assert result.code == 0, result.err + result.out
        assert json.loads(result.out)["passed"] is True
