"""Segmentation on synthetic outputs with known masks: YOLOv8-seg prototypes x coefficients, per-pixel maps."""
from __future__ import annotations

import numpy as np
import pytest

from omdeploy.tasks.detect import decode
from omdeploy.tasks.segment import instance_masks, pixel_map, rle_decode, rle_encode

from .test_detect import GEOMETRY, INPUT_HW, _v8_head


def _box_mask(box, hw=(100, 200)):
    ys, xs = np.mgrid[:hw[0], :hw[1]] + 0.5
    x1, y1, x2, y2 = box
    return (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_yolov8_seg_masks_are_cropped_to_their_box_and_mapped_back():
    boxes = [([20, 10, 60, 50], 0, 0.9), ([100, 40, 180, 96], 1, 0.8)]
    head = _v8_head(boxes, classes=2, extra=2)
    head[0, 6, 0], head[0, 7, 1] = 8.0, 8.0  # box 0 uses prototype 0, box 1 prototype 1
    protos = np.full((1, 2, 16, 16), -8.0, np.float32)
    protos[0, 0] = 1.0                # prototype 0: on everywhere, so only the box crop shapes mask 0
    protos[0, 1, :, :8] = 1.0         # prototype 1: on in the left half of the input only
    found = decode(head, "yolov8", GEOMETRY, INPUT_HW, num_extra=2)
    masks = instance_masks(found, protos, GEOMETRY, INPUT_HW)
    assert [m.shape for m in masks] == [(100, 200), (100, 200)]
    assert _iou(masks[0], _box_mask([20, 10, 60, 50])) > 0.95
    # input x < 32 is source x < 100: box 1 starts at x = 100, so its mask is (almost) empty
    assert masks[1].sum() < 0.05 * _box_mask([100, 40, 180, 96]).sum()


def test_per_pixel_argmax_map_drops_the_letterbox_padding():
    scores = np.zeros((1, 3, 64, 64), np.float32)
    scores[0, 0] = 1.0
    # class 2 on source x 50..150, y 20..80 -> input x 16..48, y 16 + 6.4..16 + 25.6
    scores[0, 2, 23:41, 16:48] = 5.0
    labels = pixel_map(scores, GEOMETRY, INPUT_HW)
    assert labels.shape == (100, 200) and set(np.unique(labels)) == {0, 2}
    assert _iou(labels == 2, _box_mask([50, 20, 150, 80])) > 0.85


def test_single_channel_map_is_thresholded_logits_or_probabilities():
    logits = np.full((1, 1, 64, 64), -4.0, np.float32)
    logits[0, 0, 16:48, :32] = 4.0  # the left half of the real image area
    mask = pixel_map(logits, GEOMETRY, INPUT_HW)
    assert mask.dtype == bool and _iou(mask, _box_mask([0, 0, 100, 100])) > 0.95
    probs = 1 / (1 + np.exp(-logits))
    assert (pixel_map(probs, GEOMETRY, INPUT_HW) == mask).mean() > 0.99


def test_rle_round_trip_is_coco_column_major():
    mask = np.zeros((3, 4), bool)
    mask[0, 0] = mask[1:, 2] = True
    rle = rle_encode(mask)
    assert rle == {"size": [3, 4], "counts": [0, 1, 6, 2, 3]}
    np.testing.assert_array_equal(rle_decode(rle), mask)
    np.testing.assert_array_equal(rle_decode(rle_encode(~mask)), ~mask)


@pytest.mark.needs_onnx
@pytest.mark.needs_assets
def test_segmenter_end_to_end_on_models_with_known_outputs(assets, tmp_path):
    from PIL import Image

    from omdeploy.tasks.segment import Segmenter

    from .head_models import constant_head_model

    photo = np.asarray(Image.open(assets.image("chelsea.png")).convert("RGB").resize((200, 100)))
    head = _v8_head([([20, 10, 60, 50], 0, 0.9)], classes=2, extra=1)
    head[0, 6, 0] = 8.0
    instances = constant_head_model(tmp_path / "seg.onnx", {"output0": head,
                                                            "output1": np.ones((1, 1, 16, 16), np.float32)})
    with Segmenter(instances) as segment:
        [found] = segment(photo)["instances"]
    assert found["label"] == "0" and _iou(rle_decode(found["mask"]), _box_mask([20, 10, 60, 50])) > 0.95

    scores = np.zeros((1, 3, 64, 64), np.float32)
    scores[0, 2, 23:41, 16:48] = 5.0
    semantic = constant_head_model(tmp_path / "sem.onnx", {"out": scores})
    with Segmenter(semantic, labels=["background", "road", "cat"]) as segment:
        counts = segment(photo)["label_map_classes"]
    assert set(counts) == {"background", "cat"} and abs(counts["cat"] - 100 * 60) < 0.1 * 6000


@pytest.mark.needs_onnx
def test_detect_on_a_seg_model_and_segment_on_a_detector_are_refused_and_layouts_are_said(tmp_path):
    from omdeploy.errors import UserError
    from omdeploy.tasks.detect import Detector
    from omdeploy.tasks.segment import Segmenter

    from .head_models import constant_head_model

    seg = constant_head_model(tmp_path / "seg.onnx", {"output0": np.zeros((1, 4 + 80 + 32, 8400), np.float32),
                                                     "output1": np.zeros((1, 32, 16, 16), np.float32)})
    det = constant_head_model(tmp_path / "det.onnx", {"output0": np.zeros((1, 84, 8400), np.float32)})
    with pytest.raises(UserError, match="--task detect on a segmentation model"):
        Detector(seg)
    with pytest.raises(UserError, match="--task segment on a detection model"):
        Segmenter(det)
    with Segmenter(seg) as segment:
        assert segment.layout["classes"] == 80 and segment.layout["mask_coefficients"] == 32
        assert segment.layout["layout"] == "(4+C+nm, N) channels first"
    with Detector(det) as detect:
        assert (detect.layout["classes"], detect.layout["anchors"]) == (80, 8400)


def _ultralytics_retina_masks(protos, coefficients, boxes, shape):
    """A second implementation, in torch, written from Ultralytics' process_mask_native + scale_masks + crop_mask
    (ultralytics/utils/ops.py, https://github.com/ultralytics/ultralytics/blob/main/ultralytics/utils/ops.py):
    logits = coefficients @ prototypes; the letterbox padding cut at prototype resolution with Ultralytics' own
    rounding; F.interpolate bilinear to the source shape; masks zeroed outside round(box); logit > 0."""
    import torch
    import torch.nn.functional as F

    c, mh, mw = protos.shape
    masks = (torch.from_numpy(coefficients) @ torch.from_numpy(protos).float().view(c, -1)).view(-1, mh, mw)
    gain = min(mh / shape[0], mw / shape[1])
    pad_w, pad_h = (mw - shape[1] * gain) / 2, (mh - shape[0] * gain) / 2
    top, left = round(pad_h - 0.1), round(pad_w - 0.1)
    bottom, right = mh - round(pad_h + 0.1), mw - round(pad_w + 0.1)
    masks = F.interpolate(masks[None, :, top:bottom, left:right], shape, mode="bilinear")[0]
    for i, (x1, y1, x2, y2) in enumerate(torch.from_numpy(boxes).round().int()):
        masks[i, :y1] = 0
        masks[i, y2:] = 0
        masks[i, :, :x1] = 0
        masks[i, :, x2:] = 0
    return (masks > 0).numpy()


@pytest.mark.needs_torch
@pytest.mark.needs_assets
def test_yolov8_seg_masks_equal_ultralytics_process_mask_native(assets):
    from PIL import Image

    from omdeploy.spec import PreprocessSpec
    from omdeploy.tasks.preprocess import fit

    photo = np.asarray(Image.open(assets.image("chelsea.png")).convert("RGB"))  # 300 x 451: letterboxed in 640
    _, geometry = fit(photo, 640, 640, PreprocessSpec(resize="letterbox"))
    rng = np.random.default_rng(7)
    # dense prototypes with sharp edges (random 40 x 40 fields upsampled 4x, std 4: large logits as trained heads
    # give). On them the old decoding (sigmoid, resize, > 0.5, crop at pixel centres) reached IoU 0.925-0.993.
    coarse = rng.normal(0, 4, (32, 40, 40)).astype(np.float32)
    protos = np.stack([np.asarray(Image.fromarray(c, mode="F").resize((160, 160), Image.BILINEAR)) for c in coarse])
    sizes = [12, 20, 40, 80, 160, 300]  # source pixels: small instances too, where sigmoid-then-resize differed
    boxes = []
    for size in sizes:
        x1, y1 = rng.uniform(0, 451 - size), rng.uniform(0, 300 - min(size, 299))
        boxes.append(([x1, y1, x1 + size, y1 + min(size, 299)], 0, 0.9))
    rows = np.zeros((len(boxes) + 100, 4 + 1 + 32), np.float32)  # anchors > channels
    for i, (box, c, score) in enumerate(boxes):
        x1, y1 = geometry.scale_x * box[0] + geometry.pad_x, geometry.scale_y * box[1] + geometry.pad_y
        x2, y2 = geometry.scale_x * box[2] + geometry.pad_x, geometry.scale_y * box[3] + geometry.pad_y
        rows[i, :5] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, score]
        rows[i, 5:] = rng.normal(0, 1, 32)
    found = decode(rows.T[None], "yolov8", geometry, (640, 640), iou=0.99, num_extra=32)
    assert len(found.scores) == len(sizes)
    ours = instance_masks(found, protos[None], geometry, (640, 640))
    reference = _ultralytics_retina_masks(protos, found.extra, found.boxes, photo.shape[:2])
    ious = [_iou(a, b) for a, b in zip(ours, reference) if b.any()]
    assert len(ious) >= len(sizes) - 1, "the instances must have masks to compare"
    assert min(ious) >= 0.99, ious
