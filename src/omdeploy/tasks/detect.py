"""Object detection post-processing for YOLO-family heads: decode, confidence filter, class-aware NMS, and
boxes mapped back through the letterbox to the source image.

Heads (one image, batch dim dropped):
- yolov8: (4 + C [+ extra], N) or (N, 4 + C [+ extra]); cx, cy, w, h in input pixels, then class scores
- yolov5: (N, 5 + C [+ extra]); cx, cy, w, h, objectness, class probabilities (score = obj * cls)
- yolox:  (N, 5 + C) raw, as YOLOX's own export writes it: xy offsets and log-wh per grid cell over strides
  8/16/32, decoded here, then as yolov5
`extra` trailing columns (e.g. the 32 mask coefficients of YOLOv8-seg) are carried through to the result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError, one_of
from .base import ImageTask, ModelRef
from .preprocess import Geometry

HEADS = ("yolov8", "yolov5", "yolox")
YOLOX_STRIDES = (8, 16, 32)


@dataclass
class Detections:
    boxes: np.ndarray        # (n, 4) x1 y1 x2 y2 in source-image pixels
    scores: np.ndarray       # (n,)
    classes: np.ndarray      # (n,) int
    input_boxes: np.ndarray  # (n, 4) the same boxes in model-input pixels
    extra: np.ndarray        # (n, extra) trailing columns of the kept rows

    def to_list(self, labels: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
        return [{"box": [round(float(v), 2) for v in box], "score": float(score), "class": int(c),
                 "label": labels[c] if labels is not None and c < len(labels) else str(int(c))}
                for box, score, c in zip(self.boxes, self.scores, self.classes)]


def _rows(output: np.ndarray, head: str, num_extra: int) -> np.ndarray:
    out = np.asarray(output, dtype=np.float32)
    if out.ndim == 3:
        out = out[0]
    if out.ndim != 2:
        raise UserError("a {} head gives a 2-D (or batched 3-D) array, got shape {}".format(head, output.shape))
    if head == "yolov8" and out.shape[0] < out.shape[1]:
        out = out.T  # Ultralytics exports (4 + C, anchors)
    need = (4 if head == "yolov8" else 5) + 1 + num_extra
    if out.shape[1] < need:
        raise UserError("a {} head needs at least {} values per row, got shape {}".format(head, need, output.shape),
                        hint="choose the head that matches the model: " + one_of(HEADS))
    return out


def yolox_grid_decode(rows: np.ndarray, input_hw: Tuple[int, int],
                      strides: Sequence[int] = YOLOX_STRIDES) -> np.ndarray:
    """Raw YOLOX rows -> rows with cx, cy, w, h in input pixels."""
    height, width = input_hw
    grids, steps = [], []
    for s in strides:
        ys, xs = np.meshgrid(np.arange(height // s), np.arange(width // s), indexing="ij")
        grids.append(np.stack([xs, ys], -1).reshape(-1, 2))
        steps.append(np.full((grids[-1].shape[0], 1), s))
    grid, stride = np.concatenate(grids).astype(np.float32), np.concatenate(steps).astype(np.float32)
    if grid.shape[0] != rows.shape[0]:
        raise UserError("a YOLOX head on a {}x{} input has {} anchors (strides {}), got {}".format(
            height, width, grid.shape[0], list(strides), rows.shape[0]))
    out = rows.copy()
    out[:, :2] = (rows[:, :2] + grid) * stride
    out[:, 2:4] = np.exp(rows[:, 2:4]) * stride
    return out


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    half = xywh[:, 2:4] / 2
    return np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, order = order[0], order[1:]
        keep.append(best)
        order = order[iou_one_to_many(boxes[best], boxes[order]) <= iou]
    return np.asarray(keep, dtype=np.int64)


def class_aware_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """NMS within each class only: boxes of different classes never suppress each other."""
    if boxes.size == 0:
        return np.zeros(0, dtype=np.int64)
    offset = classes.astype(np.float32)[:, None] * (float(boxes.max() - boxes.min()) + 1.0)  # classes apart
    return nms(boxes + offset, scores, iou)


def decode(output: np.ndarray, head: str, geometry: Geometry, input_hw: Tuple[int, int], conf: float = 0.25,
           iou: float = 0.45, num_extra: int = 0, max_det: int = 300) -> Detections:
    """One image's head output -> kept detections, boxes in source-image pixels."""
    if head not in HEADS:
        raise UserError("unknown detection head {!r}; known: {}".format(head, one_of(HEADS)))
    rows = _rows(output, head, num_extra)
    if head == "yolox":
        rows = yolox_grid_decode(rows, input_hw)
    end = rows.shape[1] - num_extra
    if head == "yolov8":
        class_scores = rows[:, 4:end]
    else:
        class_scores = rows[:, 5:end] * rows[:, 4:5]
    classes = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(rows.shape[0]), classes]
    candidates = np.nonzero(scores >= conf)[0]
    boxes = xywh_to_xyxy(rows[candidates, :4])
    kept = candidates[class_aware_nms(boxes, scores[candidates], classes[candidates], iou)[:max_det]]
    input_boxes = xywh_to_xyxy(rows[kept, :4])
    source_h, source_w = geometry.source_hw
    source = geometry.to_source(input_boxes.reshape(-1, 2, 2)).reshape(-1, 4)
    source = np.clip(source, 0, [source_w, source_h, source_w, source_h]).astype(np.float32)
    return Detections(source, scores[kept], classes[kept], input_boxes, rows[kept, end:])


def announce_layout(task: str, session: Any, head: str = "yolov8") -> Dict[str, Any]:
    """The layout inferred from the model's outputs (a task that does not fit them is refused here, before any
    input runs), said once at INFO."""
    from ..log import info_once
    from .fit import fit_task, session_outputs

    layout = fit_task(task, session_outputs(session), head)
    info_once(("layout", task, str(session.path)), "%s: %s inferred the output layout %s", session.path, task,
              {k: v for k, v in layout.items() if v is not None})
    return layout


class Detector(ImageTask):
    """YOLO-family detection on RGB uint8 images; letterbox (or the spec's resize) on the way in, boxes back."""

    name = "detect"

    def __init__(self, model: ModelRef, head: str = "yolov8", conf: float = 0.25, iou: float = 0.45,
                 labels: Optional[Sequence[str]] = None, preset: Optional[str] = None, backend: str = "auto",
                 **options: Any):
        if head not in HEADS:
            raise UserError("unknown detection head {!r}; known: {}".format(head, one_of(HEADS)))
        self._open(model, preset, labels, backend, options)
        self.head, self.conf, self.iou = head, conf, iou
        self.layout = announce_layout(self.name, self.session, head)

    def finish(self, prepared: Tuple[np.ndarray, Geometry], outputs: Dict[str, np.ndarray]) -> Dict[str, Any]:
        geometry = prepared[1]
        output = next(iter(outputs.values()))
        found = decode(output, self.head, geometry, self.preprocess.fixed_size(), self.conf, self.iou)
        return {"detections": found.to_list(self.labels)}
