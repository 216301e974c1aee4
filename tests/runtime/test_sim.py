"""The "sim" backend: the deployed .om's behaviour on the CPU, from the DeploySpec."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omdeploy.errors import UserError
from omdeploy.runtime import Session
from omdeploy import chips
from omdeploy.ascend import precision
from omdeploy.runtime import sim
from omdeploy.spec import DeploySpec

pytestmark = [pytest.mark.needs_onnx]

DET_MEAN, DET_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def fp16_overflow_model(path: Path) -> Path:
    """An RMS-norm block: y = h / sqrt(mean(h*h)), h = x @ w. Inputs and outputs are small, but h*h exceeds
    65504 for x in [0, 1): the float16 collapse (Ascend/pytorch#125 kind) that only the squares reveal."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="proj"),
        helper.make_node("Mul", ["h", "h"], ["sq"], name="square"),
        helper.make_node("ReduceMean", ["sq"], ["var"], name="mean", keepdims=1, axes=[1]),
        helper.make_node("Sqrt", ["var"], ["std"], name="sqrt"),
        helper.make_node("Div", ["h", "std"], ["y"], name="normalise"),
    ]
    w = numpy_helper.from_array((np.random.default_rng(0).standard_normal((64, 64)) * 40).astype(np.float32), "w")
    graph = helper.make_graph(nodes, "rmsnorm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def topk_model(path: Path) -> Path:
    """values, indices = TopK(x * 3, k=2): TopK is one of FP32_ONLY_OPS."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Mul", ["x", "three"], ["s"], name="scale"),
             helper.make_node("TopK", ["s", "k"], ["values", "indices"], name="topk")]
    graph = helper.make_graph(nodes, "topk", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("values", TensorProto.FLOAT, [1, 2]),
                               helper.make_tensor_value_info("indices", TensorProto.INT64, [1, 2])],
                              [numpy_helper.from_array(np.array(3.0, np.float32), "three"),
                               numpy_helper.from_array(np.array([2], np.int64), "k")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def spec_for(model: Path, **fields) -> DeploySpec:
    return DeploySpec.from_dict(dict({"model": str(model)}, **fields), source="test spec")


def det_spec(assets, **fields) -> DeploySpec:
    base = {"inputs": [{"name": "x", "shape": [1, 3, -1, -1]}],
            "dynamic": {"mode": "image_size", "gears": [[640, 640], [960, 960]]}}
    base.update(fields)
    return spec_for(assets.model("ppocrv4_det.onnx"), **base)


@pytest.fixture(scope="module")
def overflow_onnx(tmp_path_factory) -> Path:
    return fp16_overflow_model(tmp_path_factory.mktemp("sim") / "rmsnorm.onnx")


def x64() -> np.ndarray:
    return np.random.default_rng(1).random((1, 64), dtype=np.float32)


def fp32(model: Path, feeds) -> dict:
    with Session(model, backend="onnxruntime") as s:
        return s.run(feeds)


# ---- precision: one test per PRECISION_POLICIES row -------------------------------------------------

# What ATC's --precision_mode reference [atc-options] says each mode does to the model h = x @ W; sq = h * h:
# mode -> does the float16 overflow of h*h reach the output?
COLLAPSES = {"force_fp16": True, "allow_mix_precision": True, "allow_mix_precision_fp16": True,
             "allow_fp32_to_fp16": False, "force_fp32": False, "cube_fp16in_fp32out": False,
             "must_keep_origin_dtype": False}
# mode -> is the MatMul (a Cube op, no fp32 kernel on 310-class chips) result stored as float16? force_fp16 and
# the mixed modes write fp16; allow_fp32_to_fp16 takes fp16 for ops without an fp32 kernel; force_fp32 (=
# cube_fp16in_fp32out) computes the Cube in fp16 but writes fp32; must_keep_origin_dtype keeps float32
MATMUL_WRITES_FP16 = {"force_fp16": True, "allow_mix_precision": True, "allow_mix_precision_fp16": True,
                      "allow_fp32_to_fp16": True, "force_fp32": False, "cube_fp16in_fp32out": False,
                      "must_keep_origin_dtype": False}
# mode -> does any op run in float16 (only must_keep_origin_dtype keeps every op in the source dtype)?
ANY_FP16 = {m: m != "must_keep_origin_dtype" for m in COLLAPSES}


def test_every_precision_mode_has_an_expectation():
    assert set(COLLAPSES) == set(MATMUL_WRITES_FP16) == set(precision.PRECISION_POLICIES)


@pytest.mark.parametrize("mode", sorted(precision.PRECISION_POLICIES))
def test_precision_mode_decides_where_float16_overflows(mode, overflow_onnx):
    ref = fp32(overflow_onnx, {"x": x64()})["y"]
    with Session(overflow_onnx, backend="sim", spec=spec_for(overflow_onnx, precision_mode=mode),
                 layers=True) as s:
        out = s.run({"x": x64()})
        described = s.describe()
    assert described["precision_mode"] == mode
    h = out["h"]
    # the Cube's MatMul result is stored as float16 exactly when the mode writes fp16 from fp16 ops
    assert np.array_equal(h, h.astype(np.float16).astype(np.float32)) == MATMUL_WRITES_FP16[mode]
    if COLLAPSES[mode]:
        # the default Ascend310P3 saturates: h*h past 65504 is stored as 65504, not inf (OVERFLOW_MODES)
        assert np.abs(out["sq"]).max() == 65504.0 and np.isfinite(out["sq"]).all()
        assert not np.allclose(out["y"], ref, atol=0.05)
    else:
        np.testing.assert_allclose(out["y"], ref, atol=2e-3 if ANY_FP16[mode] else 1e-6)
    if not ANY_FP16[mode]:
        np.testing.assert_array_equal(out["y"], ref)


def test_bfloat16_modes_are_refused(overflow_onnx):
    with pytest.raises(UserError, match="bfloat16"):
        Session(overflow_onnx, backend="sim", spec=spec_for(overflow_onnx, precision_mode="allow_fp32_to_bf16"))


# the matrix (Cube-unit) ops: convolutions and matrix products, computed in float16 on 310-class chips
CUBE = ("Conv", "ConvTranspose", "MatMul", "Gemm")
# ops the mixed-precision lists (precision_reduce: false in aic-<soc>-ops-info.json) keep in float32: exp/log
# family, roots, reciprocals, softmaxes, reductions, layer norm, erf [atc-options --precision_mode]
MIXED_FP32 = ("Exp", "Log", "Pow", "Sqrt", "Reciprocal", "Softmax", "LogSoftmax", "ReduceSum", "ReduceMean",
              "ReduceL2", "ReduceSumSquare", "LayerNormalization", "Erf")
# ops whose float values are coordinates, indices or counts (AI CPU kernels in float32)
FP32_ONLY = ("NonMaxSuppression", "TopK", "RoiAlign", "Range", "CumSum", "RandomUniformLike", "RandomNormalLike")


def test_op_classes_are_the_cited_ones():
    assert (set(precision.CUBE_OPS), set(precision.MIX_PRECISION_FP32_OPS), set(precision.FP32_ONLY_OPS)) == (
        set(CUBE), set(MIXED_FP32), set(FP32_ONLY))


@pytest.mark.parametrize("op", CUBE)
def test_cube_ops_run_in_fp16_in_every_fp16_policy(op):
    assert all(precision._runs_fp16(op, ops) for ops in ("all", "mixed", "cube"))
    assert not precision._runs_fp16(op, "none")


@pytest.mark.parametrize("op", MIXED_FP32)
def test_mixed_precision_keeps_sensitive_ops_in_fp32(op):
    assert not precision._runs_fp16(op, "mixed") and precision._runs_fp16(op, "all") and not precision._runs_fp16(op, "cube")


@pytest.mark.parametrize("op", FP32_ONLY)
def test_fp32_only_ops_never_run_in_fp16(op):
    assert not any(precision._runs_fp16(op, ops) for ops in ("all", "mixed", "cube", "none"))


def test_an_ordinary_op_follows_the_policy():
    assert [precision._runs_fp16("Relu", ops) for ops in ("all", "mixed", "cube", "none")] == [True, True, False, False]


def test_kept_fp32_ops_are_named_and_exact(tmp_path):
    model = topk_model(tmp_path / "topk.onnx")
    x = np.linspace(0.1, 1.7, 16, dtype=np.float32).reshape(1, 16) + np.float32(1e-4)
    with Session(model, backend="sim") as s:
        assert s.describe()["kept_fp32"] == {"TopK": 1}
        out = s.run({"x": x})
    # the Mul before TopK runs in fp16, TopK itself passes its (already rounded) input through unchanged
    expected = np.sort((x * 3).astype(np.float16).astype(np.float32))[:, ::-1][:, :2]
    np.testing.assert_array_equal(out["values"], expected)
    np.testing.assert_array_equal(out["indices"], [[15, 14]])


def test_batchnorm_is_folded_in_fp32_before_fp16(assets):
    """PP-OCRv4 det has a BatchNorm variance of 97903600: evaluated in float16 it saturates and the map
    collapses; folded into the Conv first (as ATC does) the simulation stays close to fp32."""
    x = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
    ref = fp32(assets.model("ppocrv4_det.onnx"), {"x": x})["sigmoid_0.tmp_0"]
    with Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=det_spec(assets)) as s:
        out = s.run({"x": x})["sigmoid_0.tmp_0"]
    assert np.abs(out - ref).max() < 0.05


# ---- the device-side input contract -----------------------------------------------------------------

def test_fp16_input_node_takes_float16(assets):
    spec = det_spec(assets, inputs=[{"name": "x", "shape": [1, 3, -1, -1], "dtype": "float16"}])
    with Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=spec) as s:
        assert s.inputs[0].dtype == np.float16
        assert s.describe()["memory"]["inputs"]["x"] == 3 * 960 * 960 * 2


def test_aipp_input_takes_uint8_nhwc_and_refuses_nchw_floats(assets):
    spec = det_spec(assets, inputs=[{"name": "x", "shape": [1, 3, 640, 640]}], dynamic=None,
                    preprocess={"where": "aipp", "mean": DET_MEAN, "std": DET_STD})
    with Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=spec) as s:
        assert (s.inputs[0].shape, s.inputs[0].dtype) == ((1, 640, 640, 3), np.uint8)
        assert s.describe()["aipp_inputs"] == ["x"]
        with pytest.raises(UserError, match=r"expected uint8 \[1, 640, 640, 3\]"):
            s.run({"x": np.zeros((1, 3, 640, 640), np.float32)})
        image = np.random.default_rng(0).integers(0, 256, (640, 640, 3), dtype=np.uint8)
        assert s.run({"x": image})["sigmoid_0.tmp_0"].shape == (1, 1, 640, 640)


def test_aipp_file_given_to_atc_as_is_is_applied(assets, tmp_path):
    (tmp_path / "aipp.cfg").write_text("aipp_op {\n aipp_mode: static\n input_format: RGB888_U8\n}\n")
    spec = DeploySpec.from_dict({"model": str(assets.model("ppocrv4_det.onnx")),
                                 "inputs": [{"name": "x", "shape": [1, 3, 640, 640]}],
                                 "atc": {"insert_op_conf": "aipp.cfg"}, "precision_mode": "must_keep_origin_dtype"},
                                base_dir=str(tmp_path))
    image = np.random.default_rng(0).integers(0, 256, (1, 640, 640, 3), dtype=np.uint8)
    with Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=spec) as s:
        assert s.inputs[0].dtype == np.uint8
        got = s.run({"x": image})["sigmoid_0.tmp_0"]
    # no normalisation in that AIPP: the network sees the raw pixel values (exact in float16)
    ref = fp32(assets.model("ppocrv4_det.onnx"), {"x": image.transpose(0, 3, 1, 2).astype(np.float32)})
    np.testing.assert_allclose(got, ref["sigmoid_0.tmp_0"], atol=1e-5)


@pytest.mark.parametrize("option", ["modify_mixlist", "customize_dtypes"])  # keep_dtype is simulated
def test_per_op_precision_options_are_refused_naming_the_option(option, overflow_onnx):
    spec = spec_for(overflow_onnx, atc={"options": {option: "ops.cfg"}})
    with pytest.raises(UserError, match="atc.options sets --{}: the simulator cannot reproduce".format(option)):
        Session(overflow_onnx, backend="sim", spec=spec)


def test_precision_mode_v2_in_atc_options_is_refused_not_simulated_as_fp16(overflow_onnx):
    spec = spec_for(overflow_onnx, atc={"options": {"precision_mode_v2": "origin"}})
    with pytest.raises(UserError, match="--precision_mode_v2=origin") as info:
        Session(overflow_onnx, backend="sim", spec=spec)
    assert info.value.hint == "precision_mode: must_keep_origin_dtype"


def test_output_type_from_the_atc_options(overflow_onnx):
    spec = spec_for(overflow_onnx, atc={"output_type": "FP16"})
    with Session(overflow_onnx, backend="sim", spec=spec) as s:
        assert "--output_type=FP16" in s.describe()["atc_argv"]
        assert s.run({"x": x64()})["y"].dtype == np.float16
    from omdeploy.ascend.atc import output_type_entries

    assert output_type_entries("y:0:UINT8;z:0:FP32") == {"y": "UINT8", "z": "FP32"}
    assert output_type_entries("input:0:0:FP16") == {"input:0": "FP16"}  # a name with a colon


@pytest.mark.parametrize("output_type, dtype", sorted(sim._OUTPUT_DTYPES.items()))
def test_output_type_casts_like_the_netoutput(output_type, dtype, overflow_onnx):
    spec = spec_for(overflow_onnx, precision_mode="must_keep_origin_dtype",
                    outputs=[{"name": "y", "dtype": output_type}])
    with Session(overflow_onnx, backend="sim", spec=spec) as s:
        assert s.outputs[0].dtype == dtype
        out = s.run({"x": x64()})["y"]
    ref = fp32(overflow_onnx, {"x": x64()})["y"]
    assert out.dtype == dtype
    if np.dtype(dtype).kind == "f":
        np.testing.assert_array_equal(out, ref.astype(dtype))
    else:
        limits = np.iinfo(dtype)
        np.testing.assert_array_equal(out, np.clip(ref, limits.min, limits.max).astype(dtype))


# ---- gears ------------------------------------------------------------------------------------------

def test_image_size_gears_run_and_other_sizes_are_refused_as_the_device_does(assets):
    with Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=det_spec(assets)) as s:
        assert s.run({"x": np.zeros((1, 3, 640, 640), np.float32)})["sigmoid_0.tmp_0"].shape == (1, 1, 640, 640)
        with pytest.raises(UserError) as refused:
            s.run({"x": np.zeros((1, 3, 800, 800), np.float32)})
    message = str(refused.value)
    assert "800x800 is not a compiled gear" in message
    assert "640x640, 960x960" in message and "145013" in message
    assert "--dynamic_image_size=640,640;960,960" in message


def test_batch_gears(assets):
    spec = det_spec(assets, inputs=[{"name": "x", "shape": [-1, 3, 64, 64]}],
                    dynamic={"mode": "batch", "gears": [1, 2]})
    with Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=spec) as s:
        assert s.run({"x": np.zeros((2, 3, 64, 64), np.float32)})["sigmoid_0.tmp_0"].shape[0] == 2
        with pytest.raises(UserError, match="3 is not a compiled gear.*--dynamic_batch_size"):
            s.run({"x": np.zeros((3, 3, 64, 64), np.float32)})


def test_a_batch_between_gears_is_padded_to_the_next_gear_as_acl_does(assets):
    # the same policy as the acl backend (runtime/gears.py): batch 3 of gears 1, 4 runs at gear 4, sliced back;
    # independent evidence: each image run alone at gear 1 (no padding) gives the same rows
    spec = det_spec(assets, inputs=[{"name": "x", "shape": [-1, 3, 64, 64]}],
                    dynamic={"mode": "batch", "gears": [1, 4]})
    batch = np.random.default_rng(0).uniform(0, 1, (3, 3, 64, 64)).astype(np.float32)
    with Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=spec) as s:
        padded = s.run({"x": batch})["sigmoid_0.tmp_0"]
        alone = [s.run({"x": batch[k:k + 1]})["sigmoid_0.tmp_0"][0] for k in range(3)]
    assert padded.shape[0] == 3
    np.testing.assert_allclose(padded, np.stack(alone), atol=2e-3)
    with Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=spec, pad_batch=False) as s:
        with pytest.raises(UserError, match="3 is not a compiled gear"):
            s.run({"x": batch})


@pytest.mark.parametrize("soc", ["Ascend310", "Ascend310B1", "Ascend310B4"])
@pytest.mark.parametrize("declared", [True, False])
def test_chips_without_dynamic_shape_need_gears(soc, declared, assets):
    """Whether the spec marks the dims -1 (ATC's own rule) or only the model has them dynamic."""
    spec = det_spec(assets, dynamic=None, target={"soc_version": soc})
    if not declared:
        spec.inputs = []
    with pytest.raises(UserError, match="no true dynamic shape"):
        Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=spec)


def test_a_deployment_atc_refuses_is_refused(assets):
    spec = det_spec(assets, inputs=[{"name": "x", "shape": [1, 3, -1, -1], "dtype": "float16"}],
                    preprocess={"where": "aipp", "mean": DET_MEAN, "std": DET_STD})
    with pytest.raises(UserError, match="breaks ATC's rules.*input_fp16_nodes"):
        Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=spec)


def test_310p_takes_a_true_dynamic_shape(assets):
    spec = det_spec(assets, dynamic=None, target={"soc_version": "Ascend310P3"})
    with Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=spec) as s:
        assert s.run({"x": np.zeros((1, 3, 96, 128), np.float32)})["sigmoid_0.tmp_0"].shape == (1, 1, 96, 128)
        assert s.describe()["memory"]["complete"] is False  # no largest shape to size it by


def test_310p3_memory_is_the_field_reports_npu_smi_total():
    """Independent evidence for the chip table's row: the field report's npu-smi output, parsed."""
    from pathlib import Path

    from omdeploy.ascend.npusmi import parse_npu_smi

    text = (Path(__file__).parents[1] / "fixtures" / "logs" / "npu-smi" / "seed_310p3.txt").read_text(encoding="utf-8")
    chip = parse_npu_smi(text).chips[0]
    assert chips.memory_mb("Ascend310P3")[0] == chip.memory_total_mb == 21527


# ---- device memory: the npu-smi totals of real boxes (tests/fixtures/logs/npu-smi) -------------------

def _batch_over(memory_mb: int) -> int:
    per_image = 4096 * 4096 * (3 + 1) * 4  # fp32 input + the one-channel fp32 map
    return memory_mb * 1024 * 1024 // per_image + 1


@pytest.mark.parametrize("soc, memory_mb", [("Ascend310P3", 21527), ("Ascend310", 8192)])
def test_memory_estimate_against_the_socs_memory(soc, memory_mb, assets):
    batch = _batch_over(memory_mb)
    over = det_spec(assets, inputs=[{"name": "x", "shape": [batch, 3, 4096, 4096]}], dynamic=None,
                    target={"soc_version": soc})
    with pytest.raises(UserError) as refused:
        Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=over)
    assert "207001" in str(refused.value) and "{:.1f} MiB".format(memory_mb) in str(refused.value)
    assert "float16" in refused.value.hint
    # the peak includes the live activations (omdeploy.onnx.memory), so the fitting case is one 1024x1024 image
    fits = det_spec(assets, inputs=[{"name": "x", "shape": [1, 3, 1024, 1024],
                                     "dtype": "float16"}], dynamic=None, target={"soc_version": soc})
    with Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=fits) as s:
        memory = s.describe()["memory"]
    assert memory["fits"] is True and memory["complete"] is True
    assert memory["inputs"]["x"] == 3 * 1024 * 1024 * 2
    assert memory["outputs"]["sigmoid_0.tmp_0"] == 1024 * 1024 * 4
    assert memory["soc_memory"] == memory_mb * 1024 * 1024


def test_unknown_soc_memory_is_reported_not_compared(assets):
    spec = det_spec(assets, target={"soc_version": "Ascend310P1"})
    with Session(assets.model("ppocrv4_det.onnx"), backend="sim", spec=spec) as s:
        memory = s.describe()["memory"]
    assert memory["fits"] is None and memory["total"] > 0
    assert memory["inputs"]["x"] == 3 * 960 * 960 * 4  # the largest gear


def test_sim_is_not_chosen_automatically(overflow_onnx):
    with Session(overflow_onnx) as s:
        assert s.backend_name == "onnxruntime"


@pytest.mark.needs_assets
def test_an_ir3_model_whose_initializers_are_graph_inputs_takes_only_its_real_input(assets):
    model = assets.model("light_squeezenet.onnx")  # IR 3: every weight is also listed as a graph input
    with Session(model, backend="sim") as s:
        assert [i.name for i in s.inputs] == ["data_0"]
        out = s.run({"data_0": np.zeros((1, 3, 224, 224), np.float32)})
    assert list(out) == ["softmaxout_1"]


@pytest.mark.parametrize("device_format", ["rgb", "bgr", "nv12", "gray"])
def test_gray_model_with_aipp_runs_on_one_channel(assets, tmp_path, device_format):
    from PIL import Image

    from omdeploy.tasks.image import load_image
    from omdeploy.tasks.preprocess import ImagePreprocessor, to_gray
    from tests.runtime.tiny_models import scale_model

    model = scale_model(tmp_path / "gray.onnx", shape=(1, 1, 64, 96), factor=1.0)
    spec = spec_for(model, inputs=[{"name": "x", "shape": [1, 1, 64, 96]}], precision_mode="must_keep_origin_dtype",
                    preprocess={"where": "aipp", "color": "gray", "mean": [0.0], "std": [1.0],
                                "resize": "stretch", "device_format": device_format})
    rgb = np.asarray(Image.fromarray(load_image(assets.image("coffee.png"))).resize((96, 64), Image.BILINEAR))
    with Session(model, backend="sim", spec=spec) as s:
        if device_format == "nv12":  # the application's own NV12: its Y plane is the gray image, UV neutral
            feed = np.concatenate([to_gray(rgb)[..., 0], np.full((32, 96), 128, np.uint8)])[None, :, :, None]
        else:
            feed, _ = ImagePreprocessor(s.inputs[0], spec.preprocess, spec)(rgb)
            assert feed.shape == (1, 64, 96, 1 if device_format == "gray" else 3)
        out = s.run({"x": feed})["y"]
    assert out.shape == (1, 1, 64, 96)
    if device_format in ("rgb", "bgr"):  # RGB888 -> GRAY CSC (BGR: + rbuv_swap): (76 R + 150 G + 30 B) >> 8
        expected = (rgb.astype(int) @ np.array([76, 150, 30])) >> 8
    else:
        expected = to_gray(rgb)[..., 0]
    assert np.array_equal(out[0, 0], expected)


# ---- overflow mode: one test per OVERFLOW_MODES behaviour --------------------------------------------

def sum_model(path: Path, opset: int = 13) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"], name="sum")], "sum",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in "ab"],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.save(model, str(path))
    return path


OVERFLOWING = np.array([[40000.0, -40000.0, 1.5, np.nan]], np.float32)


@pytest.mark.parametrize("opset", [13, 10])
def test_a_sum_that_overflows_fp16_saturates_on_310p3(opset, tmp_path):
    model = sum_model(tmp_path / "sum.onnx", opset)
    spec = spec_for(model, target={"soc_version": "Ascend310P3"})
    with Session(model, backend="sim", spec=spec) as s:
        y = s.run({"a": OVERFLOWING, "b": OVERFLOWING})["y"]
        assert s.describe()["overflow_mode"] == "saturation"
    # aclrtFloatOverflowMode saturation: inf -> +-65504 (fp16 max, np.finfo), NaN -> 0
    np.testing.assert_array_equal(y, [[np.finfo(np.float16).max, -np.finfo(np.float16).max, 3.0, 0.0]])


def test_inf_nan_mode_on_a2_chips_and_refused_where_the_chip_saturates_only(tmp_path):
    model = sum_model(tmp_path / "sum.onnx")
    with Session(model, backend="sim", spec=spec_for(model, target={"soc_version": "Ascend910B4"})) as s:
        y = s.run({"a": OVERFLOWING, "b": OVERFLOWING})["y"]
    assert np.isposinf(y[0, 0]) and np.isneginf(y[0, 1]) and np.isnan(y[0, 3])
    assert precision.overflow_mode("Ascend910B4", "saturation") == "saturation"
    assert precision.overflow_mode("Ascend310B4") == "saturation"
    with pytest.raises(UserError, match="saturation"):
        precision.overflow_mode("Ascend310P3", "inf_nan")


def test_a_constant_beyond_fp16_is_reported_by_name(tmp_path, caplog):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph([helper.make_node("Div", ["x", "big"], ["y"], name="rescale")], "div",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(np.array(1e5, np.float32), "big")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "div.onnx"))
    with Session(tmp_path / "div.onnx", backend="sim", spec=spec_for(tmp_path / "div.onnx")) as s:
        y = s.run({"x": np.full((1, 4), 1000.0, np.float32)})["y"]
        assert s.describe()["clamped_constants"] == ["big"]
    assert "big" in caplog.text
    np.testing.assert_allclose(y, 1000.0 / 65504.0, rtol=1e-3)  # 1.53x the fp32 0.01


def test_model_with_external_weights_runs_as_onnxruntime_does(tmp_path):
    """Weights stored beside the model (onnx's external data, how exports over 2 GB and some exporters save
    them) are read from the model's folder, not from the simulator's scratch folder."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.random((4, 3, 3, 3), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "external.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="external.data", size_threshold=0)
    assert (tmp_path / "external.data").stat().st_size == 4 * 3 * 3 * 3 * 4
    x = rng.random((1, 3, 8, 8), dtype=np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = Session(str(path), backend="sim").run({"x": x})["y"]
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-3)
