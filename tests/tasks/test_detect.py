"""YOLO-family decoding on synthetic head outputs whose boxes are known: letterbox un-mapping, class-aware NMS."""
from __future__ import annotations

import numpy as np
import pytest

from omdeploy.errors import UserError
from omdeploy.spec import PreprocessSpec
from omdeploy.tasks.detect import YOLOX_STRIDES, class_aware_nms, decode, nms
from omdeploy.tasks.preprocess import fit

INPUT_HW = (64, 64)
# a 100x200 (h x w) source letterboxed into 64x64: scale 0.32, 16 rows of padding on top
SOURCE = np.zeros((100, 200, 3), np.uint8)
_, GEOMETRY = fit(SOURCE, 64, 64, PreprocessSpec(resize="letterbox"))

# (source box x1 y1 x2 y2, class, score): B overlaps A in the same class, C is A's twin in another class
A = ([20, 10, 60, 50], 0, 0.9)
B = ([22, 12, 62, 52], 0, 0.8)
C = ([20, 10, 60, 50], 1, 0.7)
D = ([150, 60, 190, 90], 1, 0.6)
FAINT = ([100, 20, 120, 40], 0, 0.1)
BOXES = [A, B, C, D, FAINT]


def _input_xywh(box):
    x1, y1, x2, y2 = np.asarray(box, np.float32) * 0.32 + [0, 16, 0, 16]
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


def _v8_head(boxes=BOXES, classes=2, extra=0):
    rows = np.zeros((len(boxes) + 20, 4 + classes + extra), np.float32)  # and 20 empty anchors
    for i, (box, c, score) in enumerate(boxes):
        rows[i, :4] = _input_xywh(box)
        rows[i, 4 + c] = score
    return rows.T[np.newaxis]  # Ultralytics layout (1, 4 + C, anchors)


def _expect_a_c_d(found):
    assert found.classes.tolist() == [0, 1, 1]
    np.testing.assert_allclose(found.scores, [0.9, 0.7, 0.6], rtol=1e-6)
    np.testing.assert_allclose(found.boxes, [A[0], C[0], D[0]], atol=1e-3)


def test_yolov8_letterbox_unmapping_and_nms_across_classes():
    assert (GEOMETRY.scale_x, GEOMETRY.pad_x, GEOMETRY.pad_y) == (0.32, 0.0, 16.0)
    found = decode(_v8_head(), "yolov8", GEOMETRY, INPUT_HW, conf=0.25, iou=0.45)
    _expect_a_c_d(found)  # B suppressed by A (same class), C kept (other class), FAINT below conf


def test_yolov8_rows_layout_is_accepted_too():
    found = decode(_v8_head()[0].T, "yolov8", GEOMETRY, INPUT_HW)
    _expect_a_c_d(found)


def test_yolov5_objectness_times_class_probability():
    rows = np.zeros((len(BOXES), 5 + 2), np.float32)
    for i, (box, c, score) in enumerate(BOXES):
        rows[i, :4] = _input_xywh(box)
        rows[i, 4] = rows[i, 5 + c] = np.sqrt(score)  # objectness x class probability = score
    _expect_a_c_d(decode(rows[np.newaxis], "yolov5", GEOMETRY, INPUT_HW, conf=0.25))


def test_yolox_raw_grid_outputs_are_decoded():
    cells = [(s, gy, gx) for s in YOLOX_STRIDES for gy in range(64 // s) for gx in range(64 // s)]
    rows = np.zeros((len(cells), 5 + 2), np.float32)
    for box, c, score in BOXES:  # each box in the finest free cell that holds its centre (A and C share one)
        cx, cy, w, h = _input_xywh(box)
        index = next(i for i, (s, gy, gx) in enumerate(cells)
                     if gx == int(cx // s) and gy == int(cy // s) and rows[i, 4] == 0)
        s = cells[index][0]
        rows[index, :4] = [cx / s - int(cx // s), cy / s - int(cy // s), np.log(w / s), np.log(h / s)]
        rows[index, 4], rows[index, 5 + c] = 1.0, score
    found = decode(rows[np.newaxis], "yolox", GEOMETRY, INPUT_HW)
    _expect_a_c_d(found)


def test_yolox_with_the_wrong_anchor_count_says_so():
    with pytest.raises(UserError, match="84 anchors"):
        decode(np.zeros((1, 80, 7), np.float32), "yolox", GEOMETRY, INPUT_HW)


def test_boxes_are_clipped_to_the_source_image():
    found = decode(_v8_head([([-30, -5, 40, 120], 0, 0.9)]), "yolov8", GEOMETRY, INPUT_HW)
    np.testing.assert_allclose(found.boxes, [[0, 0, 40, 100]], atol=1e-3)


def test_nms_keeps_the_best_of_a_cluster():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.7]), 0.5).tolist() == [1, 2]
    assert class_aware_nms(boxes, np.array([0.5, 0.9, 0.7]), np.array([1, 0, 0]), 0.5).tolist() == [1, 2, 0]


def test_unknown_head_is_a_user_error():
    with pytest.raises(UserError, match="yolov8, yolov5, yolox"):
        decode(_v8_head(), "yolov9", GEOMETRY, INPUT_HW)


@pytest.mark.needs_onnx
@pytest.mark.needs_assets
def test_detector_end_to_end_on_a_model_with_a_known_head(assets, tmp_path):
    from PIL import Image

    from omdeploy.tasks.detect import Detector

    from .head_models import constant_head_model

    model = constant_head_model(tmp_path / "head.onnx", {"output0": _v8_head()},
                                metadata={"names": "{0: 'cup', 1: 'cat'}"})
    photo = np.asarray(Image.open(assets.image("coffee.png")).convert("RGB").resize((200, 100)))
    with Detector(model, head="yolov8") as detect:  # bare model: the 'yolo' letterbox preset
        found = detect(photo)["detections"]
    assert [d["label"] for d in found] == ["cup", "cat", "cat"]
    np.testing.assert_allclose([d["box"] for d in found], [A[0], C[0], D[0]], atol=0.01)


@pytest.mark.needs_onnx
@pytest.mark.needs_assets
def test_boxes_map_back_through_the_aipp_centre_crop(assets, tmp_path):
    # the application feeds 64x96 letterboxed images; AIPP crops the model's 64x64 from columns 16..80
    from PIL import Image

    from omdeploy.spec import DeploySpec
    from omdeploy.tasks.detect import Detector

    from .head_models import constant_head_model

    boxes = [([50, 10, 100, 50], 0, 0.9), ([120, 60, 160, 90], 1, 0.6)]  # source pixels of a 100x200 photo
    rows = np.zeros((len(boxes) + 20, 6), np.float32)
    for i, (box, c, score) in enumerate(boxes):
        x1, y1, x2, y2 = np.asarray(box, np.float32) * 0.48 + [-16, 8, -16, 8]  # letterbox 0.48, top 8; crop 16
        rows[i, :4], rows[i, 4 + c] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], score
    model = constant_head_model(tmp_path / "head.onnx", {"output0": rows.T[np.newaxis]})
    spec = DeploySpec.from_dict({"model": str(model), "task": "detect", "precision_mode": "must_keep_origin_dtype",
                                 "inputs": [{"name": "images", "shape": [1, 3, 64, 64]}],
                                 "preprocess": {"where": "aipp", "resize": "letterbox", "std": [255.0],
                                                "device_size": [64, 96]}})
    photo = np.asarray(Image.open(assets.image("coffee.png")).convert("RGB").resize((200, 100)))
    with Detector(spec, head="yolov8", backend="sim") as detect:
        found = detect(photo)["detections"]
    np.testing.assert_allclose([d["box"] for d in found], [b[0] for b in boxes], atol=0.01)
