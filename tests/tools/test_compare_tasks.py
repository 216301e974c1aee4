"""compare's task-aware verdicts on real models and photos: the decoded answers must agree, not just tensors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from omdeploy.tools.metrics import MSIT_METRICS

from tests.tasks.head_models import constant_head_model, yolov8_layout_detector
from tests.tools.test_compare import SWAP_RB_AIPP, as_args

pytestmark = [pytest.mark.needs_onnx]

DET_PRE = {"color": "rgb", "resize": "letterbox", "mean": [127.0], "std": [128.0]}


@pytest.fixture(scope="module")
def detector(efficientnet_onnx, tmp_path_factory) -> Path:
    return yolov8_layout_detector(efficientnet_onnx, tmp_path_factory.mktemp("det") / "yolov8_layout.onnx")


def det_spec(path: Path, model: Path, **fields) -> Path:
    from omdeploy.spec import DeploySpec

    data = {"model": str(model), "inputs": [{"name": "input", "shape": [1, 3, 320, 320]}], "task": "detect",
            "preprocess": dict(DET_PRE)}
    data.update(fields)
    DeploySpec.from_dict(data, source=str(path)).save(path)
    return path


@pytest.mark.needs_torch
@pytest.mark.needs_assets
def test_a_yolov8_detector_behind_an_aipp_that_swaps_r_and_b_fails_and_the_right_aipp_passes(
        cli, detector, assets, tmp_path):
    ref = det_spec(tmp_path / "host.yaml", detector)
    (tmp_path / "swap.cfg").write_text(SWAP_RB_AIPP.replace("static", "static\n    src_image_size_w: 320\n"
                                                             "    src_image_size_h: 320"))
    swapped = det_spec(tmp_path / "swapped.yaml", detector, atc={"insert_op_conf": "swap.cfg"})
    fixed = det_spec(tmp_path / "fixed.yaml", detector, preprocess=dict(DET_PRE, where="aipp"))
    photos = as_args(sorted(assets("images").iterdir()))

    bad = cli("compare", ref, "{}@sim".format(swapped), *photos, "--json")
    assert bad.code == 1, bad.err
    report = json.loads(bad.out)
    tensor = report["outputs"][0]
    # the whole-tensor verdict is blind here: the box rows (input pixels) dominate the 84 x 100 head
    assert tensor["passed"] and tensor["metrics"]["CosineSimilarity"] >= 0.99
    assert set(MSIT_METRICS) <= set(tensor["metrics"])
    verdict = report["task"]
    assert verdict["task"] == "detect" and not verdict["passed"]
    assert verdict["metrics"]["layout"]["layout"] == "(4+C, N) channels first"
    assert verdict["metrics"]["layout"]["classes"] == 80 and verdict["metrics"]["layout"]["anchors"] == 100
    assert verdict["metrics"]["detections_ref"] >= 200  # ten photos give real detections to match
    failed = {c["metric"] for c in verdict["checks"] if c["passed"] is False}
    assert {"det_precision", "det_recall"} <= failed
    assert verdict["metrics"]["det_recall"] < 0.8

    human = cli("compare", ref, "{}@sim".format(swapped), *photos)
    assert human.code == 1 and "task detect" in human.out and "det_recall>=0.9 FAILED" in human.out

    good = cli("compare", ref, "{}@sim".format(fixed), *photos, "--json")
    assert good.code == 0, good.out
    verdict = json.loads(good.out)["task"]
    assert verdict["passed"] and verdict["metrics"]["det_recall"] >= 0.97 and verdict["metrics"]["box_iou"] > 0.99
    assert verdict["metrics"]["score_diff"] < 0.05


# ---- units: the task metrics on hand-made answers -------------------------------------------------------

def test_classify_reference_top1_within_target_top5_is_not_set_overlap():
    from omdeploy.tools.task_verdicts import classify_metrics

    ref = [{"logits": np.array([[9.0, 1, 2, 3, 4, 5, 6]])}, {"logits": np.array([[9.0, 1, 2, 3, 4, 5, 6]])}]
    # sample 1: top-1 moves to class 6 but class 0 is still second; sample 2: class 0 falls to last place
    got = [{"logits": np.array([[8.0, 1, 2, 3, 4, 5, 9]])}, {"logits": np.array([[0.0, 1, 2, 3, 4, 5, 6]])}]
    metrics = classify_metrics(ref, got, "logits")
    assert metrics["top1"] == 0.0 and metrics["top1_in_top5"] == 0.5


def test_ocr_character_error_rate_counts_edits_of_the_ctc_strings():
    from omdeploy.tools.task_verdicts import ocr_metrics

    def ctc(indices):  # one-hot CTC frames; 0 is the blank
        probs = np.zeros((len(indices), 5), np.float32)
        probs[np.arange(len(indices)), indices] = 1.0
        return {"probs": probs[None]}

    ref = [ctc([1, 1, 0, 2, 3, 0, 4]), ctc([2, 0, 2])]   # "1234" and "22"
    got = [ctc([1, 0, 2, 2, 0, 3, 4]), ctc([2, 2, 2])]   # "1234" (same after CTC collapse) and "2"
    metrics = ocr_metrics(ref, got, "probs")
    assert metrics["text_equal"] == 0.5 and metrics["cer"] == pytest.approx(1 / 6)


def test_detections_match_by_class_and_iou_and_borderline_scores_do_not_count_as_missing():
    from omdeploy.tasks.detect import Detections
    from omdeploy.tools.task_verdicts import detection_metrics

    def found(rows):
        boxes = np.array([r[0] for r in rows], np.float32).reshape(-1, 4)
        return Detections(boxes, np.array([r[2] for r in rows], np.float32), np.array([r[1] for r in rows]),
                          boxes, np.zeros((len(rows), 0), np.float32))

    ref = found([([0, 0, 10, 10], 0, 0.9), ([20, 20, 40, 40], 1, 0.8), ([50, 50, 60, 60], 2, 0.26)])
    # box 1 shifted by 1 px (IoU 0.9), box 2 of another class, box 3 just under conf 0.25 on the target
    got = found([([0, 0, 10, 10], 0, 0.88), ([21, 21, 41, 41], 3, 0.8), ([50, 50, 60, 60], 2, 0.24)])
    metrics = detection_metrics([ref], [got])
    assert metrics["detections_ref"] == 3 and metrics["detections_target"] == 2
    assert metrics["det_recall"] == pytest.approx(2 / 3) and metrics["det_precision"] == pytest.approx(1 / 2)
    assert metrics["box_iou"] == 1.0 and metrics["score_diff"] == pytest.approx(0.02, abs=1e-6)


# ---- a task that does not fit the model: one user error before any input runs ---------------------------

def _seg_model(tmp_path: Path) -> Path:
    return constant_head_model(tmp_path / "seg.onnx", {"output0": np.zeros((1, 4 + 2 + 32, 8400), np.float32),
                                                      "output1": np.zeros((1, 32, 16, 16), np.float32)})


@pytest.mark.parametrize("task, outputs, message", [
    ("segment", {"output0": np.zeros((1, 84, 8400), np.float32)}, "--task segment on a detection model"),
    ("detect", None, "--task detect on a segmentation model"),
])
def test_a_task_that_does_not_fit_the_model_is_refused_before_running(cli, tmp_path, task, outputs, message):
    model = _seg_model(tmp_path) if outputs is None else constant_head_model(tmp_path / "head.onnx", outputs)
    result = cli("compare", str(model), "{}@sim".format(model), "--task", task, "--random", "1")
    assert result.code == 2 and message in result.err and "hint:" in result.err and "Traceback" not in result.err


def test_an_unknown_task_or_head_is_a_user_error(cli, tmp_path):
    model = _seg_model(tmp_path)
    assert "expected one of classify, detect, segment, ocr-rec" in cli(
        "compare", str(model), str(model), "--task", "pose").err
    result = cli("compare", str(model), str(model), "--task", "segment", "--head", "yolov9")
    assert result.code == 2 and "--head 'yolov9': unknown detection head" in result.err


def test_segment_verdict_passes_fp16_noise_and_fails_shifted_mask_coefficients():
    from omdeploy.tools.task_verdicts import task_metrics

    rng = np.random.default_rng(3)
    anchors, nm = 200, 8
    head = np.zeros((1, 4 + 2 + nm, anchors), np.float32)  # 2 classes, 8 mask coefficients, 200 anchors
    boxes = [(40, 40, 30, 30, 0), (120, 90, 50, 40, 1), (200, 180, 60, 60, 0)]
    for i, (cx, cy, w, h, c) in enumerate(boxes):
        head[0, :4, i] = [cx, cy, w, h]
        head[0, 4 + c, i] = 0.9
        head[0, 6:, i] = rng.normal(0, 1, nm)
    protos = rng.normal(0, 3, (1, nm, 64, 64)).astype(np.float32)
    outputs = [("output0", head.shape), ("output1", protos.shape)]
    ref = [{"output0": head, "output1": protos}]
    noisy = [{"output0": head.astype(np.float16).astype(np.float32),
              "output1": protos.astype(np.float16).astype(np.float32)}]
    metrics = task_metrics("segment", ref, noisy, outputs, (256, 256))
    assert metrics["det_recall"] == 1.0 and metrics["mask_iou"] > 0.97
    assert metrics["layout"]["mask_coefficients"] == nm and metrics["layout"]["classes"] == 2
    shifted = head.copy()
    shifted[0, 6:, :3] = rng.normal(0, 1, (nm, 3))  # the boxes stay, the masks change
    metrics = task_metrics("segment", ref, [{"output0": shifted, "output1": protos}], outputs, (256, 256))
    assert metrics["det_recall"] == 1.0 and metrics["box_iou"] == 1.0 and metrics["mask_iou"] < 0.8
