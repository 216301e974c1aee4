"""The device contract: convert's sidecar and the simulator see the same inputs, with AIPP mapped by
related_input_rank over the ONNX input order (ATC's mapping), whatever order the spec lists the inputs in."""
from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from omdeploy.ascend.aipp import aipp_for, write_aipp  # noqa: E402
from omdeploy.ascend.contract import hw_axes  # noqa: E402
from omdeploy.ascend.convert import convert  # noqa: E402
from omdeploy.spec import DeploySpec, Sidecar  # noqa: E402


def _two_input_model(path):
    """A real two-input graph: 'meta' [1, 4] first, the image 'image' [1, 3, 8, 8] second."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["pooled"], axes=[1, 2, 3], keepdims=0),
         helper.make_node("ReduceMean", ["meta"], ["total"], axes=[1], keepdims=0),
         helper.make_node("Add", ["pooled", "total"], ["out"])],
        "two", [helper.make_tensor_value_info("meta", TensorProto.FLOAT, [1, 4]),
                helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _sim_inputs(spec):
    from omdeploy.runtime.sim import SimBackend

    backend = SimBackend(str(spec.model_path), spec)
    return [(i.name, [d if isinstance(d, int) else -1 for d in i.shape], i.dtype.name, i.layout)
            for i in backend.inputs]


def _sidecar_inputs(path):
    return [(i.name, list(i.shape), i.dtype, i.layout) for i in Sidecar.load(path).inputs]


@pytest.mark.parametrize("spec_order", [["image", "meta"], ["meta", "image"]])
def test_aipp_file_on_the_second_onnx_input_in_any_spec_order(tmp_path, spec_order):
    _two_input_model(tmp_path / "two.onnx")
    # rank 1 = the second ONNX input ('image'); a BGR 8x8 image fed to an RGB model
    (tmp_path / "my.cfg").write_text(write_aipp(aipp_for((8, 8), "rgb", "bgr", related_input_rank=1)))
    shapes = {"image": [1, 3, 8, 8], "meta": [1, 4]}
    spec = DeploySpec.from_dict({"model": "two.onnx", "atc": {"insert_op_conf": "my.cfg", "input_format": "NCHW"},
                                 "inputs": [{"name": n, "shape": shapes[n],
                                             "layout": "NCHW" if n == "image" else "ND"} for n in spec_order]},
                                base_dir=str(tmp_path))
    result = convert(spec, tmp_path / "out", plan=True)
    assert result.status == "planned"
    sidecar = _sidecar_inputs(result.sidecar)
    # independent expectation: AIPP makes its input uint8 NHWC (H, W, 3 for BGR888); ONNX order is meta, image
    assert sidecar == [("meta", [1, 4], "float32", "ND"), ("image", [1, 8, 8, 3], "uint8", "NHWC")]
    assert _sim_inputs(spec) == sidecar


def test_hw_axes_are_decided_once_and_nd_has_none():
    assert hw_axes("NCHW") == (2, 3) and hw_axes("NHWC") == (1, 2)
    assert hw_axes("ND") is None and hw_axes("NCDHW") is None


def test_nd_with_a_shape_takes_the_image_plane_the_shape_shows():
    assert hw_axes("ND", [1, 3, 32, 48]) == (2, 3)      # ONNX's own channels-first data
    assert hw_axes("ND", [1, 32, 48, 3]) == (1, 2)      # channels-last data
    assert hw_axes("ND", [1, 32, 320]) == (1, 2)        # (N, H, W), e.g. a text line
    assert hw_axes("ND", [8]) is None


def test_image_hw_of_yuv420sp_planes_is_two_thirds_of_the_rows():
    from omdeploy.ascend.contract import image_hw

    # (N, H*3/2, W, 1) is the documented YUV420SP input shape: a 224x224 picture is 336 rows of planes
    assert image_hw([1, 336, 224, 1], "NHWC", "nv12") == (224, 224)
    assert image_hw([1, 224, 224, 3], "NHWC", "bgr") == (224, 224)
    assert image_hw([1, 3, -1, 224], "NCHW") == (None, 224)


@pytest.mark.parametrize("fmt", ["nv12", "nv21"])
def test_yuv420sp_encoding_matches_opencv_and_aipp_decodes_it_back(assets, fmt):
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    from omdeploy.ascend.aipp import emulate
    from omdeploy.ascend.contract import yuv420sp
    from omdeploy.tasks.image import load_image
    from omdeploy.tasks.preprocess import fit
    from omdeploy.spec import PreprocessSpec

    rgb, _ = fit(load_image(assets.image("chelsea.png")), 96, 128, PreprocessSpec())
    planes = yuv420sp(rgb, nv21=fmt == "nv21")
    assert planes.shape == (144, 128, 1) and planes.dtype == np.uint8
    # a second implementation: OpenCV's BT.601 narrow-range I420 (Y plane, then U and V planes)
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).astype(int)
    assert np.abs(planes[:96, :, 0].astype(int) - i420[:96]).max() <= 1
    u, v = i420[96:120].reshape(48, 64), i420[120:].reshape(48, 64)
    uv = planes[96:, :, 0].reshape(48, 64, 2).astype(int)
    first, second = (v, u) if fmt == "nv21" else (u, v)
    assert np.abs(uv[..., 0] - first).max() <= 1 and np.abs(uv[..., 1] - second).max() <= 1
    # AIPP's own YUV->RGB (the emulator) gives the photo back, up to chroma subsampling
    config = aipp_for((96, 128), "rgb", fmt)
    back = emulate(config, planes, output_dtype="uint8").transpose(1, 2, 0).astype(int)
    assert np.abs(back - rgb.astype(int)).mean() < 4


def _nhwc_spec(tmp_path, **extra):
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("ReduceMean", ["image"], ["out"], axes=[1, 2], keepdims=0)], "nhwc",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 16, 16, 3])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "nhwc.onnx"))
    return DeploySpec.from_dict(dict({"model": "nhwc.onnx", "inputs": [
        {"name": "image", "shape": [1, 16, 16, 3], "layout": "NHWC"}]}, **extra), base_dir=str(tmp_path))


def test_an_nhwc_onnx_input_converts_as_nd_and_round_trips_through_the_atc_parser(tmp_path):
    import numpy as np

    from omdeploy.ascend.atc import build_argv, check_options, parse_atc, spec_from_atc
    from omdeploy.runtime.session import Session

    spec = _nhwc_spec(tmp_path)
    argv = build_argv(spec)
    # ATC's --input_format page: ONNX takes NCHW, NCDHW, ND (any format, N <= 4); NHWC is not among them
    assert "--input_format=ND" in argv and "--input_shape=image:1,16,16,3" in argv
    opts = parse_atc(argv)
    check_options(opts)  # ATC's rules accept it
    back = spec_from_atc(argv, base_dir=str(tmp_path))
    assert [(i.name, i.shape, i.layout) for i in back.inputs] == [("image", [1, 16, 16, 3], "ND")]
    assert build_argv(back) == argv  # the parsed command converts to the same command
    assert convert(spec, tmp_path / "out", plan=True).status == "planned"
    # the simulator runs it with the data as given (channels last), as the .om takes it
    image = np.random.default_rng(0).uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    with Session(tmp_path / "nhwc.onnx", backend="sim", spec=spec) as sim:
        assert sim.inputs[0].shape == (1, 16, 16, 3)
        np.testing.assert_allclose(sim.run([image])["out"], image.mean(axis=(1, 2)), atol=2e-3)


def test_aipp_on_an_nhwc_onnx_input_is_refused_with_the_reason(tmp_path):
    from omdeploy.ascend.atc import build_argv
    from omdeploy.errors import UserError

    spec = _nhwc_spec(tmp_path, preprocess={"where": "aipp"})
    with pytest.raises(UserError, match="only as --input_format=ND.*NCHW or NHWC") as refused:
        build_argv(spec)
    assert "preprocess.where: host" in refused.value.hint


def test_an_explicit_nhwc_input_format_for_onnx_says_to_use_nd(tmp_path):
    from omdeploy.ascend.atc import build_argv
    from omdeploy.errors import UserError

    with pytest.raises(UserError, match="converts with --input_format=ND"):
        build_argv(_nhwc_spec(tmp_path, atc={"input_format": "NHWC"}))


def test_host_preprocessing_takes_format_size_and_crop_from_a_users_aipp_file_on_the_second_input(tmp_path, assets):
    import numpy as np

    from omdeploy.runtime.base import TensorInfo
    from omdeploy.spec import PreprocessSpec
    from omdeploy.tasks.image import load_image
    from omdeploy.tasks.preprocess import ImagePreprocessor

    _two_input_model(tmp_path / "two.onnx")
    # NV12 pictures of 12x12 fed to the 8x8 image input (ONNX rank 1): AIPP centre-crops from (2, 2)
    config = aipp_for((8, 8), "rgb", "nv12", device_hw=(12, 12), related_input_rank=1)
    assert (config.load_start_pos_h, config.load_start_pos_w) == (2, 2)
    (tmp_path / "my.cfg").write_text(write_aipp(config))
    spec = DeploySpec.from_dict({"model": "two.onnx", "atc": {"insert_op_conf": "my.cfg", "input_format": "NCHW"},
                                 "inputs": [{"name": "image", "shape": [1, 3, 8, 8]},
                                            {"name": "meta", "shape": [1, 4], "layout": "ND"}]},
                                base_dir=str(tmp_path))
    device = TensorInfo("image", (1, 18, 12, 1), np.dtype(np.uint8), "NHWC")  # 12 * 3/2 rows of planes
    tensor, geometry = ImagePreprocessor(device, PreprocessSpec(resize="stretch"), spec)(
        load_image(assets.image("chelsea.png")))
    assert tensor.shape == (1, 18, 12, 1) and tensor.dtype == np.uint8
    assert (geometry.pad_x, geometry.pad_y) == (-2, -2)  # the model sees the picture from (2, 2) on


def test_feeding_a_built_model_survives_an_aipp_file_left_behind(tmp_path):
    from omdeploy.ascend.contract import aipp_formats, spec_contract
    from omdeploy.errors import UserError

    _two_input_model(tmp_path / "two.onnx")
    spec = DeploySpec.from_dict({"model": "two.onnx", "atc": {"insert_op_conf": "gone.cfg"}}, base_dir=str(tmp_path))
    with pytest.raises(UserError):
        spec_contract(spec)  # converting needs the file
    assert aipp_formats(spec) == {}  # feeding an .om on the box goes on with the sidecar's inputs
