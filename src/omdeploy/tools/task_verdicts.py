"""Task-aware compare metrics: whether the two sides give the same *answers*, decoded by the tasks' own decoders.

A whole-tensor cosine is blind where the answer lives in a small part of a tensor (a YOLOv8 head whose box rows
dominate the class rows). So, per task:
- classify: top1 (top-1 agreement) and top1_in_top5 (the reference's top-1 among the target's top 5);
- detect:   detections matched by class and IoU >= 0.5: det_precision (target detections matched in the
            reference), det_recall (reference detections matched in the target), box_iou (mean IoU of the matched
            pairs), score_diff (largest score difference of a matched pair);
- segment:  the same, plus mask_iou (mean mask IoU of the matched pairs; of the label map for a per-pixel model);
- ocr-rec:  text_equal (fraction of samples decoding to the same CTC string) and cer (character error rate).
A detection whose score is within CONF_MARGIN of the confidence threshold may fall on either side of it under
fp16 noise: a detection counts as missing only when the other side has no match even at conf - CONF_MARGIN.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError

TASK_METRICS = ("top1_in_top5", "det_precision", "det_recall", "box_iou", "score_diff", "mask_iou", "text_equal",
                "cer")
VERDICT_TASKS = ("classify", "detect", "segment", "ocr-rec")
CONF, IOU, MATCH_IOU, CONF_MARGIN = 0.25, 0.45, 0.5, 0.05

Outputs = Sequence[Dict[str, np.ndarray]]


def _identity(input_hw: Tuple[int, int]) -> Any:
    from ..images import Geometry

    return Geometry(1.0, 1.0, 0.0, 0.0, (int(input_hw[0]), int(input_hw[1])))


def _decode(output: np.ndarray, input_hw: Tuple[int, int], head: str, num_extra: int = 0) -> Any:
    from ..tasks.detect import decode

    return decode(output, head, _identity(input_hw), input_hw, conf=CONF - CONF_MARGIN, iou=IOU, num_extra=num_extra)


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, 4) x (m, 4) xyxy -> (n, m) IoU."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match(ref: Any, got: Any, strict: float = CONF) -> List[Tuple[int, int, float]]:
    """Greedy one-to-one matching, best reference score first: each reference detection scoring >= `strict` takes
    the unmatched target detection of its class with the highest IoU >= MATCH_IOU (target at any decoded score)."""
    ious = _box_iou(ref.input_boxes, got.input_boxes) if len(ref.scores) and len(got.scores) else None
    taken, pairs = set(), []
    for i in np.argsort(-ref.scores, kind="stable"):
        if ref.scores[i] < strict or ious is None:
            continue
        candidates = [(ious[i, j], j) for j in range(len(got.scores))
                      if j not in taken and got.classes[j] == ref.classes[i] and ious[i, j] >= MATCH_IOU]
        if candidates:
            best, j = max(candidates)
            taken.add(j)
            pairs.append((int(i), int(j), float(best)))
    return pairs


def _mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else float(np.count_nonzero(a & b) / union)


def detection_metrics(refs: Sequence[Any], gots: Sequence[Any], ref_masks: Optional[Sequence[List[np.ndarray]]] = None,
                      got_masks: Optional[Sequence[List[np.ndarray]]] = None) -> Dict[str, Any]:
    strict_ref = strict_got = recalled = precise = 0
    ious: List[float] = []
    score_diffs: List[float] = []
    mask_ious: List[float] = []
    for k, (ref, got) in enumerate(zip(refs, gots)):
        pairs = match(ref, got)
        strict_ref += int(np.count_nonzero(ref.scores >= CONF))
        strict_got += int(np.count_nonzero(got.scores >= CONF))
        recalled += len(pairs)
        precise += len(match(got, ref))
        ious += [iou for _, _, iou in pairs]
        score_diffs += [abs(float(ref.scores[i]) - float(got.scores[j])) for i, j, _ in pairs]
        if ref_masks is not None and got_masks is not None:
            mask_ious += [_mask_iou(ref_masks[k][i], got_masks[k][j]) for i, j, _ in pairs]
    metrics: Dict[str, Any] = {
        "detections_ref": strict_ref, "detections_target": strict_got,
        "det_recall": 1.0 if strict_ref == 0 else recalled / strict_ref,
        "det_precision": 1.0 if strict_got == 0 else precise / strict_got,
        "box_iou": float(np.mean(ious)) if ious else None,
        "score_diff": float(max(score_diffs)) if score_diffs else None,
    }
    if ref_masks is not None:
        metrics["mask_iou"] = float(np.mean(mask_ious)) if mask_ious else None
    return metrics


def classify_metrics(refs: Outputs, gots: Outputs, name: str) -> Dict[str, Any]:
    ref = np.concatenate([r[name].reshape(-1, r[name].shape[-1]) for r in refs]).astype(np.float64)
    got = np.concatenate([g[name].reshape(-1, g[name].shape[-1]) for g in gots]).astype(np.float64)
    ref_top1 = ref.argmax(axis=1)
    got_top5 = np.argsort(-got, axis=1, kind="stable")[:, :5]
    return {"output": name, "top1": float(np.mean(ref_top1 == got.argmax(axis=1))),
            "top1_in_top5": float(np.mean([t in row for t, row in zip(ref_top1, got_top5)]))}


def _edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def _ctc_indices(probs: np.ndarray) -> List[int]:
    """Greedy CTC as tasks.ocr.ctc_greedy decodes it (index 0 is the blank), as class indices."""
    best = np.asarray(probs).reshape(-1, probs.shape[-1]).argmax(axis=1)
    keep = (best != 0) & np.concatenate([[True], best[1:] != best[:-1]])
    return [int(i) for i in best[keep]]


def ocr_metrics(refs: Outputs, gots: Outputs, name: str) -> Dict[str, Any]:
    equal, errors, length = 0, 0, 0
    for r, g in zip(refs, gots):
        a, b = _ctc_indices(r[name]), _ctc_indices(g[name])
        equal += int(a == b)
        errors += _edit_distance(a, b)
        length += len(a)
    return {"output": name, "text_equal": equal / max(len(refs), 1),
            "cer": 0.0 if errors == 0 else errors / max(length, 1)}


def task_metrics(task: str, refs: Outputs, gots: Outputs, outputs: Sequence[Tuple[str, Sequence[Any]]],
                 input_hw: Optional[Tuple[int, int]], head: str = "yolov8") -> Dict[str, Any]:
    """The task-aware metrics of `task` over all samples; `outputs` are the model's (name, shape) outputs."""
    from ..tasks.fit import fit_task

    if task == "classify":
        ranked = [n for n, s in outputs if len(s) == 2] or [outputs[0][0]]
        return classify_metrics(refs, gots, ranked[0])
    if task == "ocr-rec":
        return ocr_metrics(refs, gots, outputs[0][0])
    layout = fit_task(task, outputs, head)
    if input_hw is None:
        raise UserError("--task {}: the model has no image input to decode boxes against".format(task))
    if task == "segment" and "prototypes" not in layout:
        return dict(pixel_map_metrics(refs, gots, layout["output"], input_hw), layout=layout)
    name = layout["output"]
    extra = layout.get("mask_coefficients", 0) or 0
    ref_found = [_decode(r[name], input_hw, head, extra) for r in refs]
    got_found = [_decode(g[name], input_hw, head, extra) for g in gots]
    if task == "detect":
        return dict(detection_metrics(ref_found, got_found), layout=layout)
    from ..tasks.segment import instance_masks

    geometry = _identity(input_hw)
    protos = layout["prototypes"]
    ref_masks = [instance_masks(f, r[protos], geometry, input_hw) for f, r in zip(ref_found, refs)]
    got_masks = [instance_masks(f, g[protos], geometry, input_hw) for f, g in zip(got_found, gots)]
    return dict(detection_metrics(ref_found, got_found, ref_masks, got_masks), layout=layout)


def pixel_map_metrics(refs: Outputs, gots: Outputs, name: str, input_hw: Tuple[int, int]) -> Dict[str, Any]:
    """Per-pixel maps: mask IoU of the binary masks, or the mean IoU over the classes of the label maps."""
    from ..tasks.segment import pixel_map

    geometry = _identity(input_hw)
    ious = []
    for r, g in zip(refs, gots):
        a, b = pixel_map(r[name], geometry, input_hw), pixel_map(g[name], geometry, input_hw)
        if a.dtype == bool:
            ious.append(_mask_iou(a, b))
        else:
            ious += [_mask_iou(a == c, b == c) for c in np.union1d(np.unique(a), np.unique(b))]
    return {"output": name, "mask_iou": float(np.mean(ious)) if ious else None}
