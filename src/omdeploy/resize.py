"""Named resize/pad policies: each reproduces one training framework's host preprocessing exactly, with the
geometry to map results back to the original image.

- torchvision: PIL bilinear (antialiased when shrinking). crop = Resize(short_side) then CenterCrop, as
  torchvision.transforms does it: long side int(short * long / short_in), offsets int(round(d / 2)).
- ultralytics: LetterBox of ultralytics/data/augment.py: cv2 INTER_LINEAR, new size round(side * r), padding
  split round(d - 0.1) / round(d + 0.1), `auto` pads only to a multiple of `stride`, `scaleup=False` never
  enlarges. Boxes map back as ultralytics.utils.ops.scale_boxes does ((x - pad) / gain).
- paddleocr: cv2 INTER_LINEAR. stretch is DetResizeForTest (sizes from `paddle_det_size`); letterbox is the
  recogniser's resize_norm_img (height fixed, width ceil(h * ratio), padded on the right).
- opencv: plain cv2 INTER_LINEAR, sizes rounded, padding split with floor (mmdet/PaddleClas-style resizing).

Pillow and OpenCV are imported only when an image is resized.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from ._optional import require

POLICIES = ("torchvision", "ultralytics", "paddleocr", "opencv")


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


def pil_resize(image: np.ndarray, width: int, height: int,
               box: Optional[Tuple[float, float, float, float]] = None) -> np.ndarray:
    """PIL bilinear (antialiased when shrinking), as torchvision resizes PIL images."""
    if image.shape[1] == width and image.shape[0] == height and box is None:
        return image
    Image = require("PIL.Image", "resizing images")
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR, box=box))


def cv2_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """cv2.resize INTER_LINEAR (no antialiasing), as Ultralytics, PaddleOCR and mmcv resize."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    cv2 = require("cv2", "OpenCV-style resizing")
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
    """Ultralytics LetterBox (auto=False is what its predictor uses for exported, fixed-size models)."""
    h, w = image.shape[:2]
    r = min(height / h, width / w)
    if not scaleup:
        r = min(r, 1.0)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = width - nw, height - nh
    if auto:
        dw, dh = dw % stride, dh % stride
    if center:
        dw, dh = dw / 2, dh / 2
    resized = cv2_resize(image, nw, nh)
    top, bottom = int(round(dh - 0.1)) if center else 0, int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)) if center else 0, int(round(dw + 0.1))
    return _pad(resized, top, bottom, left, right, pad_value), Geometry(r, r, float(left), float(top), (h, w))


def torchvision_resize_crop(image: np.ndarray, height: int, width: int, short_side: int) -> Tuple[np.ndarray, Geometry]:
    """transforms.Resize(short_side) then transforms.CenterCrop((height, width)) on a PIL image."""
    h, w = image.shape[:2]
    if w <= h:
        nw, nh = short_side, int(short_side * h / w)
    else:
        nw, nh = int(short_side * w / h), short_side
    nw, nh = max(nw, width), max(nh, height)
    top, left = int(round((nh - height) / 2.0)), int(round((nw - width) / 2.0))
    cropped = pil_resize(image, nw, nh)[top:top + height, left:left + width]
    return np.ascontiguousarray(cropped), Geometry(nw / w, nh / h, -float(left), -float(top), (h, w))


def paddle_det_size(height: int, width: int, limit_side_len: int = 960, limit_type: str = "max") -> Tuple[int, int]:
    """PaddleOCR DetResizeForTest (resize_image_type0): the detector's input (h, w), multiples of 32."""
    if limit_type == "max":
        ratio = (limit_side_len / height if height > width else limit_side_len / width) \
            if max(height, width) > limit_side_len else 1.0
    elif limit_type == "min":
        ratio = (limit_side_len / height if height < width else limit_side_len / width) \
            if min(height, width) < limit_side_len else 1.0
    else:  # resize_long
        ratio = limit_side_len / max(height, width)
    rh, rw = int(height * ratio), int(width * ratio)
    return max(int(round(rh / 32) * 32), 32), max(int(round(rw / 32) * 32), 32)


def paddle_rec_width(height: int, width: int, rec_height: int = 48, max_width: int = 320) -> int:
    """PaddleOCR resize_norm_img: the resized text line's width (the tensor is `max_width` wide)."""
    return min(max_width, int(math.ceil(rec_height * width / height)))


def _plain_letterbox(image: np.ndarray, height: int, width: int, pad_value: float, resize) -> Tuple[np.ndarray, Geometry]:
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    top, left = (height - nh) // 2, (width - nw) // 2
    out = _pad(resize(image, nw, nh), top, height - nh - top, left, width - nw - left, pad_value)
    return out, Geometry(nw / w, nh / h, float(left), float(top), (h, w))


def _plain_crop(image: np.ndarray, height: int, width: int, short: int, resize) -> Tuple[np.ndarray, Geometry]:
    """PaddleClas ResizeImage(resize_short) + CropImage: sizes rounded, offsets floored."""
    h, w = image.shape[:2]
    scale = short / min(h, w)
    nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    top, left = (nh - height) // 2, (nw - width) // 2
    out = np.ascontiguousarray(resize(image, nw, nh)[top:top + height, left:left + width])
    return out, Geometry(nw / w, nh / h, -float(left), -float(top), (h, w))


def fit_policy(image: np.ndarray, height: int, width: int, mode: str, policy: str = "torchvision",
               pad_value: float = 114.0, short_side: Optional[int] = None) -> Tuple[np.ndarray, Geometry]:
    """Resize an HWC uint8 image to (height, width): `mode` (none/stretch/letterbox/crop) as `policy` does it."""
    h, w = image.shape[:2]
    resize = pil_resize if policy == "torchvision" else cv2_resize
    if mode == "none":
        return image, Geometry(1.0, 1.0, 0.0, 0.0, (h, w))
    if mode == "stretch":
        return resize(image, width, height), Geometry(width / w, height / h, 0.0, 0.0, (h, w))
    if mode == "letterbox":
        if policy == "ultralytics":
            return ultralytics_letterbox(image, height, width, pad_value)
        if policy == "paddleocr":
            rw = min(width, paddle_rec_width(h, w, height, width))
            out = _pad(resize(image, rw, height), 0, 0, 0, width - rw, pad_value)
            return out, Geometry(rw / w, height / h, 0.0, 0.0, (h, w))
        return _plain_letterbox(image, height, width, pad_value, resize)
    short = short_side or min(height, width)
    if policy in ("torchvision", "ultralytics"):  # Ultralytics' classify_transforms are torchvision's
        return torchvision_resize_crop(image, height, width, short)
    return _plain_crop(image, height, width, short, resize)


# the preset a model's exporter metadata (ONNX metadata_props) says it was trained with
_ULTRALYTICS_PRESETS: Dict[str, str] = {"detect": "yolo", "segment": "yolo", "pose": "yolo", "obb": "yolo",
                                        "classify": "yolo-cls"}


def policy_from_metadata(metadata: Dict[str, str]) -> Optional[str]:
    """The preprocessing preset for an exported model, from the metadata its exporter wrote; None if unknown.

    Ultralytics' exporter writes task, imgsz, stride and names (ultralytics/engine/exporter.py); PaddleOCR
    exports carry `character` only for recognisers.
    """
    if "stride" in metadata and "imgsz" in metadata and metadata.get("task") in _ULTRALYTICS_PRESETS:
        return _ULTRALYTICS_PRESETS[metadata["task"]]
    return None
