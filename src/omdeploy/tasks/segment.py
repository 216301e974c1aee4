"""Segmentation post-processing: YOLOv8-seg instance masks and per-pixel maps, mapped back to the source image.

- YOLOv8-seg: output0 is a yolov8 detection head with 32 trailing mask coefficients per row, output1 the
  prototypes (32, mh, mw). Masks as Ultralytics' retina masks: the logits coefficients @ prototypes, the
  letterbox padding cut off, the rest resized bilinearly to the source image, cropped to its box, logit > 0.
- Per-pixel maps (C, H, W): argmax over classes when C > 1, a threshold when C == 1 (probabilities or logits).
Masks are returned as COCO uncompressed RLE (column-major run lengths, starting with a run of 0s).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._optional import require
from ..errors import UserError
from .base import ImageTask, ModelRef
from .detect import Detections, announce_layout, decode
from .preprocess import Geometry


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """A sigmoid that never overflows exp: exp of -|x| only, mirrored for negative inputs."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _resize_map(values: np.ndarray, height: int, width: int, nearest: bool = False) -> np.ndarray:
    Image = require("PIL.Image", "resizing masks")
    if values.shape == (height, width):
        return values
    mode = Image.NEAREST if nearest else Image.BILINEAR
    return np.asarray(Image.fromarray(values.astype(np.float32), mode="F").resize((width, height), mode))


def to_source(values: np.ndarray, geometry: Geometry, input_hw: Tuple[int, int], nearest: bool = False) -> np.ndarray:
    """A 2-D map covering the model input (at any resolution) -> the source image's pixels: the letterbox
    padding is cut off (the crop mode's margins cannot be recovered and are stretched over) and the rest resized."""
    scale_y, scale_x = values.shape[0] / input_hw[0], values.shape[1] / input_hw[1]
    source_h, source_w = geometry.source_hw
    y0, x0 = max(geometry.pad_y, 0.0) * scale_y, max(geometry.pad_x, 0.0) * scale_x
    y1 = min(values.shape[0], y0 + source_h * geometry.scale_y * scale_y)
    x1 = min(values.shape[1], x0 + source_w * geometry.scale_x * scale_x)
    region = values[int(round(y0)):max(int(round(y1)), int(round(y0)) + 1),
                    int(round(x0)):max(int(round(x1)), int(round(x0)) + 1)]
    return _resize_map(region, source_h, source_w, nearest)


def instance_masks(found: Detections, protos: np.ndarray, geometry: Geometry, input_hw: Tuple[int, int],
                   threshold: float = 0.0) -> List[np.ndarray]:
    """Boolean source-size masks, one per detection, from YOLOv8-seg coefficients (found.extra) and prototypes,
    as Ultralytics' process_mask_native (retina masks) makes them: the mask *logits* coefficients @ prototypes,
    the letterbox padding cut off, bilinearly resized to the source image, cropped to the box rounded to whole
    pixels, and thresholded at logit 0 (ultralytics/utils/ops.py: process_mask_native, scale_masks, crop_mask;
    https://github.com/ultralytics/ultralytics/blob/main/ultralytics/utils/ops.py). Thresholding the resized
    logits, not the resized sigmoid at 0.5, keeps small instances their size."""
    protos = np.asarray(protos, dtype=np.float32)
    protos = protos[0] if protos.ndim == 4 else protos
    nm, mh, mw = protos.shape
    if found.extra.shape[1] != nm:
        raise UserError("YOLOv8-seg: {} mask coefficients per box but {} prototypes".format(found.extra.shape[1], nm))
    logits = (found.extra.astype(np.float32) @ protos.reshape(nm, -1)).reshape(-1, mh, mw)
    source_h, source_w = geometry.source_hw
    masks = []
    for m, box in zip(logits, found.boxes):  # upsample first, then crop at full resolution
        x1, y1, x2, y2 = (int(v) for v in np.clip(np.round(box), 0, [source_w, source_h, source_w, source_h]))
        inside = np.zeros((source_h, source_w), dtype=bool)
        inside[y1:y2, x1:x2] = True
        masks.append((to_source(m, geometry, input_hw) > threshold) & inside)
    return masks


def pixel_map(output: np.ndarray, geometry: Geometry, input_hw: Tuple[int, int], threshold: float = 0.5) -> np.ndarray:
    """(C, H, W) or (1, C, H, W) scores -> a source-size label map (argmax) or boolean mask (C == 1)."""
    scores = np.asarray(output, dtype=np.float32)
    scores = scores[0] if scores.ndim == 4 else scores
    if scores.ndim != 3:
        raise UserError("a per-pixel map is (C, H, W) or (1, C, H, W), got shape {}".format(output.shape))
    if scores.shape[0] == 1:
        probs = scores[0] if scores.min() >= 0 and scores.max() <= 1 else _sigmoid(scores[0])
        return to_source(probs, geometry, input_hw) > threshold
    labels = scores.argmax(axis=0).astype(np.float32)
    return to_source(labels, geometry, input_hw, nearest=True).astype(np.int32)


def rle_encode(mask: np.ndarray) -> Dict[str, Any]:
    """COCO uncompressed RLE of a boolean mask: {'size': [h, w], 'counts': [zeros, ones, zeros, ...]}."""
    flat = np.asarray(mask, dtype=np.uint8).ravel(order="F")
    changes = np.nonzero(np.diff(flat))[0] + 1
    edges = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def rle_decode(rle: Dict[str, Any]) -> np.ndarray:
    h, w = rle["size"]
    values = np.zeros(len(rle["counts"]), dtype=bool)
    values[1::2] = True
    return np.repeat(values, rle["counts"]).reshape((h, w), order="F")


class Segmenter(ImageTask):
    """YOLOv8-seg instances (two outputs) or a per-pixel map (one (1, C, H, W) output)."""

    name = "segment"

    def __init__(self, model: ModelRef, conf: float = 0.25, iou: float = 0.45,
                 labels: Optional[Sequence[str]] = None, preset: Optional[str] = None, backend: str = "auto",
                 **options: Any):
        self._open(model, preset, labels, backend, options)
        self.conf, self.iou = conf, iou
        self.layout = announce_layout(self.name, self.session)

    def finish(self, prepared: Tuple[np.ndarray, Geometry], outputs: Dict[str, np.ndarray]) -> Dict[str, Any]:
        geometry = prepared[1]
        values = list(outputs.values())
        size = self.preprocess.fixed_size()
        if len(values) == 1:
            result = pixel_map(values[0], geometry, size)
            if result.dtype == bool:
                return {"mask": rle_encode(result), "area": int(result.sum())}
            classes, counts = np.unique(result, return_counts=True)
            return {"label_map_classes": {self.label(c): int(n) for c, n in zip(classes, counts)}}
        head, protos = values[0], values[1]
        found = decode(head, "yolov8", geometry, size, self.conf, self.iou, num_extra=protos.shape[-3])
        masks = instance_masks(found, protos, geometry, size)
        instances = found.to_list(self.labels)
        for item, mask in zip(instances, masks):
            item.update(area=int(mask.sum()), mask=rle_encode(mask))
        return {"instances": instances}
