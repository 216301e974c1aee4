"""Each resize policy against a reference implementation written from its framework's source
(tests/reference_preprocess.py): pixel for pixel (max difference 0) on real photos of many sizes and aspect
ratios, the padding split included, and boxes mapped back as the framework maps them."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from omdeploy.images import fit, load_image
from omdeploy.resize import Geometry, paddle_det_size, ultralytics_letterbox
from omdeploy.spec import PreprocessSpec
from omdeploy.tasks.base import preset

from . import reference_preprocess as ref

pytestmark = pytest.mark.needs_assets

PHOTOS = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg",
          "motorcycle_left.png", "page.png", "retina.jpg", "rocket.jpg", "text.png"]
# (photo, top, left, height, width): odd sizes, tall and very wide ones, cut from the photos
CROPS = [("retina.jpg", 3, 5, 1401, 333), ("hubble_deep_field.jpg", 1, 0, 871, 999),
         ("motorcycle_left.png", 0, 7, 123, 733), ("coffee.png", 11, 13, 377, 577),
         ("astronaut.png", 0, 0, 511, 257), ("chelsea.png", 2, 3, 297, 449), ("rocket.jpg", 9, 1, 417, 15)]
SIZES = [(640, 640), (384, 640), (320, 320), (480, 352)]


@pytest.fixture(scope="module")
def photos(assets):
    images = [(name, load_image(assets.image(name))) for name in PHOTOS]
    for name, top, left, h, w in CROPS:
        whole = dict(images)[name]
        images.append(("{}[{}x{}]".format(name, h, w), np.ascontiguousarray(whole[top:top + h, left:left + w])))
    assert len({image.shape[:2] for _, image in images}) >= 15  # 17 photos, 15 sizes, as many aspect ratios
    return images


def _same(out, reference, label):
    assert out.shape == reference.shape, label
    diff = int(np.abs(out.astype(np.int16) - reference.astype(np.int16)).max())
    assert diff == 0, "{}: max difference {}".format(label, diff)


def _pre(**kwargs):
    return PreprocessSpec(**kwargs)


# ---- Ultralytics ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
def test_ultralytics_letterbox_pixels_and_padding_split(photos, size):
    for name, image in photos:
        out, _ = fit(image, size[0], size[1], preset("yolo"))
        expected, _ = ref.ultralytics_letterbox(image, size)
        _same(out, expected, "{} -> {}".format(name, size))


@pytest.mark.parametrize("options", [dict(auto=True), dict(scaleup=False), dict(center=False),
                                     dict(auto=True, center=False, stride=64)])
def test_ultralytics_letterbox_options(photos, options):
    for name, image in photos:
        out, geometry = ultralytics_letterbox(image, 384, 640, **options)
        expected, (left, top) = ref.ultralytics_letterbox(image, (384, 640), **options)
        _same(out, expected, "{} {}".format(name, options))
        if not options.get("center", True):
            assert (geometry.pad_x, geometry.pad_y) == (left, top) == (0, 0)


def test_the_old_default_letterbox_differs_from_ultralytics(photos):
    """Why the yolo preset names the policy: omdeploy's original letterbox (PIL, floor split) is not
    Ultralytics' (a field report measured up to 34 grey levels from a one-pixel shift of the padding)."""
    worst = 0
    for _, image in photos:
        old, _ = fit(image, 640, 640, dataclasses.replace(preset("yolo"), policy=None))
        expected, _ = ref.ultralytics_letterbox(image, (640, 640))
        worst = max(worst, int(np.abs(old.astype(np.int16) - expected.astype(np.int16)).max()))
    assert worst > 10


def _v8_head(input_boxes):
    """A yolov8 head (1, 4 + C, anchors) with one box per class, so NMS keeps them all, and empty anchors."""
    n = len(input_boxes)
    rows = np.zeros((n + 100, 4 + n), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(input_boxes):
        rows[i, :4] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
        rows[i, 4 + i] = 0.9
    return rows.T[np.newaxis]


def _input_boxes(rng, size, n=12):
    h, w = size
    xy = rng.uniform(0, [w, h], (n, 2))
    wh = rng.uniform(4, [w / 2, h / 2], (n, 2))
    return np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1)


@pytest.mark.parametrize("size", SIZES)
def test_boxes_map_back_as_scale_boxes(photos, size):
    from omdeploy.tasks.detect import decode

    rng = np.random.default_rng(22)
    for name, image in photos:
        _, geometry = fit(image, size[0], size[1], preset("yolo"))
        boxes = _input_boxes(rng, size)
        found = decode(_v8_head(boxes), "yolov8", geometry, size, conf=0.5, iou=0.99)
        order = np.argsort(found.classes)
        expected = ref.ultralytics_scale_boxes(size, boxes, image.shape[:2])  # as DetectionPredictor calls it
        assert np.abs(found.boxes[order] - expected).max() < 0.5, name


def test_scale_boxes_can_shift_a_pixel_from_the_letterbox_padding():
    """Ultralytics' own predictor: LetterBox pads a 600x400 photo with 106 rows on top, scale_boxes takes 107
    off; omdeploy maps as scale_boxes does (what `yolo predict` prints), recorded here so it is a choice."""
    image = np.zeros((400, 600, 3), np.uint8)
    _, (left, top) = ref.ultralytics_letterbox(image, (640, 640))
    _, geometry = fit(image, 640, 640, preset("yolo"))
    assert (left, top) == (0, 106) and (geometry.pad_x, geometry.pad_y) == (0.0, 107.0)


# ---- torchvision ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("short, crop", [(256, (224, 224)), (224, (224, 224)), (300, (256, 288)), (200, (224, 224))])
def test_torchvision_resize_and_centre_crop(photos, short, crop):
    from PIL import Image

    pre = dataclasses.replace(preset("imagenet"), short_side=short)
    for name, image in photos:
        out, geometry = fit(image, crop[0], crop[1], pre)
        resized = ref.torchvision_resize(Image.fromarray(image), short)
        expected, (left, top) = ref.torchvision_center_crop(resized, crop)
        _same(out, np.asarray(expected), "{} Resize({}) CenterCrop({})".format(name, short, crop))
        assert (geometry.pad_x, geometry.pad_y) == (-left, -top), name
        assert (geometry.scale_x, geometry.scale_y) == (resized.width / image.shape[1], resized.height / image.shape[0])


def test_torchvision_stretch(photos):
    from PIL import Image

    for name, image in photos:
        out, _ = fit(image, 224, 320, _pre(resize="stretch", policy="torchvision"))
        _same(out, np.asarray(ref.torchvision_resize(Image.fromarray(image), (224, 320))), name)


# ---- YOLOX ----------------------------------------------------------------------------------------------
def test_yolox_top_left_letterbox_and_boxes(photos):
    rng = np.random.default_rng(0)
    for name, image in photos:
        out, geometry = fit(image, 640, 640, preset("yolox"))
        expected, r = ref.yolox_preproc(image, (640, 640))
        _same(out, expected, name)
        boxes = _input_boxes(rng, (640, 640))
        mapped = geometry.to_source(boxes.reshape(-1, 2, 2).astype(np.float32)).reshape(-1, 4)
        assert np.abs(mapped - boxes / r).max() < 0.01  # YOLOX's demo: bboxes /= ratio


# ---- PaddleOCR and PaddleClas ---------------------------------------------------------------------------
@pytest.mark.parametrize("limit, limit_type", [(960, "max"), (736, "min"), (640, "resize_long")])
def test_paddleocr_det_resize(photos, limit, limit_type):
    for name, image in photos:
        size = paddle_det_size(image.shape[0], image.shape[1], limit, limit_type)
        out, geometry = fit(image, size[0], size[1], dataclasses.replace(preset("ppocr-det"), resize="stretch"))
        expected, (ratio_h, ratio_w) = ref.paddleocr_det_resize(image, limit, limit_type)
        _same(out, expected, "{} {} {}".format(name, limit, limit_type))
        assert (geometry.scale_y, geometry.scale_x) == (ratio_h, ratio_w)


def test_ocr_pipeline_det_size_is_paddleocr_s_when_not_brought_up(photos):
    from omdeploy.tasks.ocr import det_size

    for name, image in photos:
        h, w = image.shape[:2]
        if min(h, w) * min(1.0, 960 / max(h, w)) >= 640:
            assert det_size(h, w) == paddle_det_size(h, w, 960, "max"), name


def _text_lines(photos):
    """Text-line-like strips of every photo: heights 20..60, widths from 0.3 to 30 times the height."""
    lines = []
    for i, (_, image) in enumerate(photos):
        h = 20 + (7 * i) % 41
        for ratio in (0.3, 2.7, 6.7, 11.3, 30.0):
            w = min(image.shape[1], max(1, int(h * ratio)))
            lines.append(np.ascontiguousarray(image[:min(h, image.shape[0]), :w]))
    return lines


def test_paddleocr_rec_lines(photos):
    from omdeploy.runtime.base import TensorInfo
    from omdeploy.tasks.ocr import REC_HEIGHT, REC_MIN_WIDTH, OcrPipeline, _resize_line, rec_width
    from omdeploy.tasks.preprocess import ImagePreprocessor

    info = TensorInfo("x", (1, 3, 48, "W"), np.dtype(np.float32), "NCHW")
    pre = ImagePreprocessor(info, dataclasses.replace(preset("ppocr-rec"), resize="none"))
    for line in _text_lines(photos):
        h, w = line.shape[:2]
        expected, resized = ref.paddleocr_rec_resize_norm_img(line, max(REC_MIN_WIDTH / REC_HEIGHT, w / float(h)))
        width = rec_width(h, w)
        assert width == expected.shape[2], (h, w)
        _same(_resize_line(line, REC_HEIGHT, width), resized, "line {}x{}".format(h, w))
        laid_out, geometry = fit(line, REC_HEIGHT, width, _pre(resize="letterbox", policy="paddleocr", pad_value=0))
        _same(laid_out[:, :resized.shape[1]], resized, "letterbox line {}x{}".format(h, w))
        assert not laid_out[:, resized.shape[1]:].any() and geometry.scale_x == resized.shape[1] / w
        batch = OcrPipeline._batch([line], pre, REC_HEIGHT, width)
        np.testing.assert_allclose(batch[0], expected, atol=1e-6)


def test_paddleclas_crop_for_the_orientation_preset(photos):
    for name, image in photos:
        out, geometry = fit(image, 224, 224, preset("orientation"))
        expected, (left, top), _ = ref.paddleclas_resize_crop(image, 256, 224)
        _same(out, expected, name)
        assert (geometry.pad_x, geometry.pad_y) == (-left, -top)


# ---- plain letterboxes: omdeploy's original (PIL) and with cv2 -------------------------------------------
def test_opencv_and_default_letterboxes_split_the_padding_with_floor(photos):
    import cv2
    from PIL import Image

    def with_pil(img, size):
        return np.asarray(Image.fromarray(img).resize(size, Image.BILINEAR))

    def with_cv2(img, size):
        return cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)

    for name, image in photos:
        for policy, resize in ((None, with_pil), ("opencv", with_cv2)):
            out, geometry = fit(image, 384, 640, _pre(resize="letterbox", policy=policy))
            expected, (left, top) = ref.floor_split_letterbox(image, (384, 640), resize)
            _same(out, expected, "{} {}".format(name, policy))
            assert (geometry.pad_x, geometry.pad_y) == (left, top)


def test_one_geometry_type():
    from omdeploy import images
    from omdeploy.tasks import preprocess

    assert images.Geometry is Geometry and preprocess.Geometry is Geometry


# ---- end to end: spec --init from an Ultralytics-style export, check, run ---------------------------------
def _ultralytics_style_export(path):
    """What an Ultralytics detect export carries (docs.ultralytics.com/modes/export): images [1, 3, 640, 640],
    output0 [1, 4 + 80, anchors], metadata_props author/task/imgsz/stride/names. The head is a constant spread
    of boxes over the input plus a small image-dependent term, so boxes are real and depend on the photo."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(22)
    anchors = 400
    head = np.zeros((1, 84, anchors), np.float32)
    head[0, 0:2] = rng.uniform(40, 600, (2, anchors))
    head[0, 2:4] = rng.uniform(8, 160, (2, anchors))
    head[0, 4:] = rng.uniform(0.0, 0.3, (80, anchors))
    weights = (rng.standard_normal((84, 3, 32, 32)) * 0.02).astype(np.float32)
    inits = [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(head, "head"),
             numpy_helper.from_array(np.array([1, 84, anchors], np.int64), "shape")]
    nodes = [helper.make_node("Conv", ["images", "w"], ["f"], strides=[32, 32]),
             helper.make_node("Reshape", ["f", "shape"], ["r"]),
             helper.make_node("Add", ["r", "head"], ["output0"])]
    graph = helper.make_graph(nodes, "main_graph",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, anchors])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    model.ir_version = 8
    names = str({i: "class{}".format(i) for i in range(80)})
    for key, value in (("author", "Ultralytics"), ("task", "detect"), ("imgsz", "[640, 640]"), ("stride", "32"),
                       ("names", names)):
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


@pytest.mark.needs_onnx
def test_spec_init_from_an_ultralytics_export_runs_as_ultralytics(cli, assets, photos, tmp_path):
    import json

    import onnxruntime as ort
    import yaml

    from omdeploy.tasks.detect import decode

    model = _ultralytics_style_export(tmp_path / "yolo.onnx")
    spec_file = tmp_path / "yolo.deploy.yaml"
    assert cli("spec", "--init", model, "-o", spec_file).code == 0
    doc = yaml.safe_load(spec_file.read_text())
    assert doc["preprocess"]["policy"] == "ultralytics" and doc["preprocess"]["resize"] == "letterbox"

    r = cli("check", spec_file, "--json")  # the policy agrees with the metadata: no preprocess-policy warning
    assert r.code == 0 and not [f for f in json.loads(r.out)["findings"] if f["rule"] == "preprocess-policy"]
    doc["preprocess"]["policy"] = "torchvision"
    other = tmp_path / "other.deploy.yaml"
    other.write_text(yaml.safe_dump(doc))
    r = cli("check", other, "--json")
    (warning,) = [f for f in json.loads(r.out)["findings"] if f["rule"] == "preprocess-policy"]
    assert warning["severity"] == "warning" and "policy: ultralytics" in warning["fix"]

    names = ["coffee.png", "text.png", "retina.jpg", "motorcycle_left.png", "page.png"]  # pads split unevenly
    r = cli("run", spec_file, *[assets.image(n) for n in names], "-o", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    results = {Path(rec["input"]).name: rec["result"]["detections"]
               for rec in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())}
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    images = dict(photos)
    identity = Geometry(1.0, 1.0, 0.0, 0.0, (640, 640))
    compared = 0
    for name in names:
        letterboxed, _ = ref.ultralytics_letterbox(images[name], (640, 640))
        tensor = (letterboxed.astype(np.float32) / 255.0).transpose(2, 0, 1)[np.newaxis]
        (output,) = session.run(None, {"images": tensor})
        found = decode(output, "yolov8", identity, (640, 640))  # the same NMS, boxes left in input pixels
        expected = ref.ultralytics_scale_boxes((640, 640), found.boxes, images[name].shape[:2])
        got = np.array([d["box"] for d in results[name]], np.float64)
        assert got.shape == expected.shape and len(got) > 3, name
        assert np.abs(got - expected).max() < 0.5, name
        compared += len(got)
    assert compared > 20


@pytest.mark.needs_onnx
def test_a_bare_ultralytics_model_gets_the_ultralytics_preset(tmp_path):
    import onnx

    from omdeploy.tasks.base import load_spec

    model = _ultralytics_style_export(tmp_path / "yolo.onnx")
    assert load_spec(model, "detect").preprocess == preset("yolo")
    proto = onnx.load(str(model))
    next(p for p in proto.metadata_props if p.key == "task").value = "classify"
    onnx.save(proto, str(tmp_path / "cls.onnx"))
    assert load_spec(tmp_path / "cls.onnx", "classify").preprocess == preset("yolo-cls")
    assert load_spec(tmp_path / "cls.onnx", "classify", "imagenet").preprocess == preset("imagenet")  # named wins


# ---- AIPP: no resize on the device, so the host policy is what the box sees --------------------------------
def _aipp_spec(tmp_path, device_size=None):
    from omdeploy.spec import DeploySpec

    pre = dict(preset("yolo").__dict__, where="aipp")
    if device_size:
        pre["device_size"] = list(device_size)
    return DeploySpec.from_dict({"model": str(tmp_path / "yolo.onnx"), "task": "detect", "preprocess": pre,
                                 "inputs": [{"name": "images", "shape": [1, 3, 640, 640], "layout": "NCHW"}]})


def test_aipp_gets_the_host_letterbox_and_only_normalises(photos, tmp_path):
    """Static AIPP has no resize (reserved, 'not supported in static AIPP': HS atlasatc_16_0025), so with
    where: aipp the host letterboxes as the policy says and AIPP only normalises: the box sees Ultralytics'
    input up to float16."""
    from omdeploy.ascend.aipp import aipp_from_spec, emulate
    from omdeploy.runtime.base import TensorInfo
    from omdeploy.tasks.preprocess import ImagePreprocessor

    spec = _aipp_spec(tmp_path)
    config = aipp_from_spec(spec, "images")
    assert not config.resize and not config.crop and not config.padding
    feed = ImagePreprocessor(TensorInfo("images", (1, 640, 640, 3), np.dtype(np.uint8), "NHWC"), spec.preprocess, spec)
    for name, image in photos[:8]:
        fed, geometry = feed(image)
        expected, _ = ref.ultralytics_letterbox(image, (640, 640))
        _same(fed[0], expected, name)
        model_sees = emulate(config, fed[0]).astype(np.float32)
        np.testing.assert_allclose(model_sees, expected.transpose(2, 0, 1) / 255.0, rtol=1e-3, atol=1e-4)
        assert geometry == fit(image, 640, 640, preset("yolo"))[1]


def test_aipp_centre_crop_of_a_larger_feed_shifts_the_geometry(photos, tmp_path):
    """A feed 16 px larger is letterboxed on the host at the feed's size and centre-cropped by AIPP (offsets
    floored): boxes map back through both."""
    from omdeploy.ascend.aipp import aipp_from_spec, emulate
    from omdeploy.runtime.base import TensorInfo
    from omdeploy.tasks.preprocess import ImagePreprocessor

    spec = _aipp_spec(tmp_path, device_size=(656, 650))
    config = aipp_from_spec(spec, "images")
    assert (config.load_start_pos_h, config.load_start_pos_w) == (8, 5)
    feed = ImagePreprocessor(TensorInfo("images", (1, 656, 650, 3), np.dtype(np.uint8), "NHWC"), spec.preprocess, spec)
    for name, image in photos[:6]:
        fed, geometry = feed(image)
        expected, _ = ref.ultralytics_letterbox(image, (656, 650))
        _same(fed[0], expected, name)
        cropped = emulate(config, fed[0], output_dtype="uint8")
        _same(cropped.transpose(1, 2, 0), expected[8:648, 5:645], name + " after AIPP's crop")
        boxes = np.array([[10.0, 20.0, 300.0, 400.0]])  # in the model's 640x640 input
        mapped = geometry.to_source(boxes.reshape(-1, 2, 2).astype(np.float32)).reshape(-1, 4)
        reference = ref.ultralytics_scale_boxes((656, 650), boxes + [5, 8, 5, 8], image.shape[:2])
        clipped = np.clip(mapped, 0, [image.shape[1], image.shape[0]] * 2)
        assert np.abs(clipped - reference).max() < 0.5, name


def test_a_cv2_policy_without_opencv_is_one_user_error_naming_the_extra(monkeypatch):
    import sys

    from omdeploy.errors import MissingDependencyError
    from omdeploy.runtime.base import TensorInfo
    from omdeploy.tasks.preprocess import ImagePreprocessor

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now fails as on a box without the extra
    info = TensorInfo("images", (1, 3, 640, 640), np.dtype(np.float32), "NCHW")
    with pytest.raises(MissingDependencyError, match="opencv-python-headless") as caught:
        ImagePreprocessor(info, preset("yolo"))  # when opened, not once per image
    assert "omdeploy[vision]" in caught.value.hint and "\n" not in str(caught.value)
    ImagePreprocessor(info, preset("imagenet"))  # PIL policies do not need it
