"""PP-OCR: text detection (DB probability map -> boxes), optional angle classifier, recognition (CTC greedy
decoding with the model's own charset).

    ocr = OcrPipeline("ppocrv4_det.onnx", "ppocrv4_rec.onnx", cls="ppocr_mobile_v2_cls.onnx")
    ocr(image)  # {'lines': [{'text': ..., 'score': ..., 'box': [[x, y] * 4]}, ...]} top-to-bottom

Constants follow PaddleOCR's defaults for these models (DB thresholds, unclip ratio, 48-pixel-high text lines).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._optional import require
from ..errors import UserError
from ..resize import cv2_resize, multiple_of_32, paddle_rec_width
from .base import ModelRef, Task, labels_from_metadata, load_spec, model_metadata, open_session
from .classify import looks_like_probabilities, softmax
from .preprocess import Geometry, ImagePreprocessor

DB_THRESHOLD = 0.3       # probability that makes a pixel "text"
DB_BOX_THRESHOLD = 0.5   # mean probability inside a box to keep it
DB_UNCLIP_RATIO = 1.6    # DB shrinks text regions in training; grow them back by area * ratio / perimeter
DB_MIN_SIDE = 3
DET_LIMIT_SIDE = 960     # the longer side is brought down to this (PaddleOCR limit_type 'max')
DET_MIN_SIDE = 640       # and small images are brought up, so small print still gets enough pixels
REC_HEIGHT, REC_MIN_WIDTH = 48, 320
CLS_SIZE = (48, 192)
CLS_THRESHOLD = 0.9


def _cv2():
    return require("cv2", "OCR text boxes and crops")


def det_size(height: int, width: int, limit: int = DET_LIMIT_SIDE, minimum: int = DET_MIN_SIDE) -> Tuple[int, int]:
    """The detector's input size for an image: PaddleOCR's DetResizeForTest (longer side at most `limit`,
    limit_type 'max', sides int(side * ratio) rounded to multiples of 32), except that a short side below
    `minimum` is brought up to it when that keeps within the limit (PaddleOCR leaves small images small)."""
    ratio = min(1.0, limit / max(height, width))
    if min(height, width) * ratio < minimum:
        ratio = min(minimum / min(height, width), limit / max(height, width))
    return multiple_of_32(int(height * ratio)), multiple_of_32(int(width * ratio))


def _order_points(points: np.ndarray) -> np.ndarray:
    """Four corners as top-left, top-right, bottom-right, bottom-left."""
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1])]
    tr, br = right[np.argsort(right[:, 1])]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def db_boxes(prob: np.ndarray, threshold: float = DB_THRESHOLD, box_threshold: float = DB_BOX_THRESHOLD,
             unclip_ratio: float = DB_UNCLIP_RATIO, max_candidates: int = 1000) -> List[Tuple[np.ndarray, float]]:
    """DB probability map (H, W) -> [(4x2 box in map pixels, score)]."""
    cv2 = _cv2()
    bitmap = (prob > threshold).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for contour in contours[:max_candidates]:
        (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
        if min(w, h) < DB_MIN_SIDE:
            continue
        box = cv2.boxPoints(((cx, cy), (w, h), angle))
        score = _mean_inside(prob, box, cv2)
        if score < box_threshold:
            continue
        grow = w * h * unclip_ratio / (2 * (w + h))
        (cx, cy), (w, h), angle = (cx, cy), (w + 2 * grow, h + 2 * grow), angle
        if min(w, h) < DB_MIN_SIDE + 2:
            continue
        found.append((_order_points(cv2.boxPoints(((cx, cy), (w, h), angle))), float(score)))
    return found


def _mean_inside(prob: np.ndarray, box: np.ndarray, cv2: Any) -> float:
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(box.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(box.max(0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(box - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def crop_text(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Perspective-crop a 4-point box (tl, tr, br, bl) upright; tall crops are turned to read left to right."""
    cv2 = _cv2()
    tl, tr, br, bl = box
    width = int(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
    height = int(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    crop = cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE,
                               flags=cv2.INTER_CUBIC)
    if height / width >= 1.5:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop


def _resize_line(crop: np.ndarray, height: int, max_width: int) -> np.ndarray:
    """Resize to `height` keeping the aspect ratio, at most `max_width` wide (PaddleOCR's resize_norm_img)."""
    return cv2_resize(crop, paddle_rec_width(crop.shape[0], crop.shape[1], height, max_width), height)


def rec_width(height: int, width: int) -> int:
    """The recogniser's tensor width for one line: int(48 * max_wh_ratio), as PaddleOCR's predict_rec."""
    return int(REC_HEIGHT * max(REC_MIN_WIDTH / REC_HEIGHT, width / float(height)))


def ctc_greedy(probs: np.ndarray, charset: Sequence[str]) -> Tuple[str, float]:
    """(T, classes) CTC output -> (text, mean confidence of the kept characters); index 0 is the blank."""
    best = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    keep = (best != 0) & np.concatenate([[True], best[1:] != best[:-1]])
    chars = [charset[i] if i < len(charset) else "" for i in best[keep]]
    return "".join(chars), float(conf[keep].mean()) if keep.any() else 0.0


class OcrPipeline(Task):
    """PP-OCR detection + (optional) angle classification + recognition on RGB uint8 images."""

    name = "ocr"

    def __init__(self, det: ModelRef, rec: ModelRef, cls: Optional[ModelRef] = None, backend: str = "auto",
                 charset: Optional[Sequence[str]] = None, **options: Any):
        det_spec = load_spec(det, "ocr-det")
        rec_spec = load_spec(rec, "ocr-rec")
        self.det = open_session(det_spec, backend, **options)
        self.rec = open_session(rec_spec, backend, **options)
        self.cls = self._cls_pre = None
        if cls is not None:
            cls_spec = load_spec(cls, "ocr-cls")
            assert cls_spec.preprocess is not None  # load_spec gives every task's spec a preprocess
            self.cls = open_session(cls_spec, backend, **options)
            self._cls_pre = ImagePreprocessor(self.cls.inputs[0], dataclasses.replace(cls_spec.preprocess,
                                                                                      resize="none"))
        assert det_spec.preprocess is not None and rec_spec.preprocess is not None
        self._det_pre = ImagePreprocessor(self.det.inputs[0], dataclasses.replace(det_spec.preprocess,
                                                                                  resize="stretch"))
        self._rec_pre = ImagePreprocessor(self.rec.inputs[0], dataclasses.replace(rec_spec.preprocess, resize="none"))
        self.charset = list(charset) if charset is not None else self._charset(rec_spec)

    def _charset(self, spec: Any) -> List[str]:
        chars = spec.label_names() or labels_from_metadata(model_metadata(self.rec.path))
        if not chars:
            raise UserError("{}: the recognition model carries no charset (metadata 'character')".format(
                self.rec.path), hint="give the charset: labels in the spec, or charset=[...]")
        return ["<blank>"] + list(chars) + [" "]  # PP-OCR: blank first, space last

    # ---- stages -----------------------------------------------------------------------------------
    def prepare(self, image: np.ndarray) -> Tuple[np.ndarray, np.ndarray, Geometry]:
        tensor, geometry = self._det_pre(image, det_size(*image.shape[:2]))
        return image, tensor, geometry

    def detect(self, tensor: np.ndarray, geometry: Geometry) -> List[Tuple[np.ndarray, float]]:
        prob = next(iter(self.det.run([tensor]).values()))[0, 0]
        boxes = []
        h, w = geometry.source_hw
        for box, score in db_boxes(prob):
            source = np.clip(geometry.to_source(box), 0, [w - 1, h - 1])
            boxes.append((source, score))
        return sorted(boxes, key=lambda b: (round(float(b[0][:, 1].min()) / 10), float(b[0][:, 0].min())))

    def upright(self, crops: List[np.ndarray]) -> List[np.ndarray]:
        """Turn crops the angle classifier reads as 180 degrees."""
        if self.cls is None or self._cls_pre is None or not crops:
            return crops
        batch = self._batch(crops, self._cls_pre, *CLS_SIZE)
        raw = next(iter(self.cls.run([batch]).values()))
        scores = raw if looks_like_probabilities(raw) else softmax(raw)
        return [np.ascontiguousarray(c[::-1, ::-1]) if s[1] > CLS_THRESHOLD else c for c, s in zip(crops, scores)]

    def recognise(self, crops: List[np.ndarray]) -> List[Tuple[str, float]]:
        """One line per call: padding a short line to a long neighbour's width costs the short one its spaces."""
        results = []
        for crop in crops:
            width = rec_width(*crop.shape[:2])
            probs = next(iter(self.rec.run([self._batch([crop], self._rec_pre, REC_HEIGHT, width)]).values()))
            results.append(ctc_greedy(probs[0], self.charset))
        return results

    @staticmethod
    def _batch(crops: List[np.ndarray], preprocess: ImagePreprocessor, height: int, width: int) -> np.ndarray:
        """Normalised (N, 3, height, width) batch; each line resized to `height` and zero-padded on the right."""
        rows = []
        for crop in crops:
            line = preprocess(_resize_line(crop, height, width))[0][0]
            padded = np.zeros((line.shape[0], height, width), dtype=line.dtype)
            padded[:, :, :line.shape[2]] = line
            rows.append(padded)
        return np.stack(rows)

    def infer(self, prepared: Tuple[np.ndarray, np.ndarray, Geometry]) -> Dict[str, Any]:
        image, tensor, geometry = prepared
        boxes = self.detect(tensor, geometry)
        crops = self.upright([crop_text(image, box) for box, _ in boxes])
        lines: List[Dict[str, Any]] = []
        for (box, det_score), (text, score) in zip(boxes, self.recognise(crops)):
            lines.append({"text": text, "score": round(score, 4), "det_score": round(det_score, 4),
                          "box": [[round(float(x), 1), round(float(y), 1)] for x, y in box]})
        return {"lines": lines, "text": "\n".join(line["text"] for line in lines if line["text"])}
