"""Host-side preprocessing from the spec: resize (letterbox / stretch / crop / none) to the model's input size.

Normalisation (colour order, mean/std, layout, dtype) is left to Session's input adapter, which applies the
same spec, so both paths share one definition. The letterbox geometry is returned so boxes can be mapped back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .._optional import require
from ..spec import PreprocessSpec


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


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    Image = require("PIL.Image", "resizing images")
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def fit(image: np.ndarray, height: int, width: int, pre: PreprocessSpec) -> Tuple[np.ndarray, Geometry]:
    """Resize an HWC uint8 image to (height, width) as `pre.resize` says."""
    h, w = image.shape[:2]
    mode = pre.resize
    if mode == "none":
        return image, Geometry(1.0, 1.0, 0.0, 0.0, (h, w))
    if mode == "stretch":
        return _resize(image, width, height), Geometry(width / w, height / h, 0.0, 0.0, (h, w))
    if mode == "letterbox":
        scale = min(width / w, height / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        resized = _resize(image, nw, nh)
        out = np.full((height, width) + image.shape[2:], pre.pad_value, dtype=image.dtype)
        top, left = (height - nh) // 2, (width - nw) // 2
        out[top:top + nh, left:left + nw] = resized
        return out, Geometry(nw / w, nh / h, float(left), float(top), (h, w))
    # crop: short side to short_side (default: the input's short side), then the centre (height, width)
    short = pre.short_side or min(height, width)
    scale = short / min(h, w)
    nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    resized = _resize(image, nw, nh)
    top, left = (nh - height) // 2, (nw - width) // 2
    return resized[top:top + height, left:left + width], Geometry(nw / w, nh / h, -float(left), -float(top), (h, w))
