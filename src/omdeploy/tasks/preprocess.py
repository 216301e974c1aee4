"""Host-side preprocessing from the spec: resize (letterbox / stretch / crop / none) to the model's input size.

Normalisation (colour order, mean/std, layout, dtype) is the runtime's InputAdapter, applied with the same
spec, so both paths share one definition. The letterbox geometry is returned so boxes can be mapped back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .._optional import require
from ..errors import UserError
from ..runtime.adapt import InputAdapter
from ..runtime.base import TensorInfo
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


def _resize(image: np.ndarray, width: int, height: int,
            box: Optional[Tuple[float, float, float, float]] = None) -> np.ndarray:
    """Bilinear resize (PIL's, as torchvision uses); `box` resizes only that source region, with the same
    filter taps as resizing the whole image and cropping, for less work."""
    if image.shape[1] == width and image.shape[0] == height and box is None:
        return image
    Image = require("PIL.Image", "resizing images")
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR, box=box))


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
    top, left = (nh - height) // 2, (nw - width) // 2
    sx, sy = w / nw, h / nh
    cropped = _resize(image, width, height, box=(left * sx, top * sy, (left + width) * sx, (top + height) * sy))
    return cropped, Geometry(nw / w, nh / h, -float(left), -float(top), (h, w))


def input_hw(info: TensorInfo) -> Tuple[Optional[int], Optional[int]]:
    """(height, width) of an image input from its layout; None for a dynamic dim."""
    axes = (1, 2) if info.layout == "NHWC" else (info.rank - 2, info.rank - 1)
    dims = [info.shape[a] for a in axes]
    return tuple(d if isinstance(d, int) and d > 0 else None for d in dims)  # type: ignore[return-value]


class ImagePreprocessor:
    """Resize and normalise RGB uint8 images for one model input, as the spec says, in the caller's thread.

    When the model carries AIPP (`where: aipp`) normalisation is the model's job, as on the device: the resized
    raw uint8 image goes in (NHWC). Otherwise the tensor comes out exactly as the model takes it, so the work
    is done here (in the runner's worker threads) and not in the inference thread.
    """

    def __init__(self, info: TensorInfo, pre: PreprocessSpec):
        self.info = info
        self.pre = pre
        self.size = input_hw(info)
        self._adapter = InputAdapter(info, pre)

    def __call__(self, image: np.ndarray, size: Optional[Tuple[int, int]] = None) -> Tuple[np.ndarray, Geometry]:
        height, width = size or self.size
        if height is None or width is None:
            if self.pre.resize != "none":
                raise UserError("input '{}' has a dynamic size {}; resize mode {!r} needs a fixed one".format(
                    self.info.name, self.info.shape_str(), self.pre.resize), hint="set the input shape in the spec")
            height, width = image.shape[:2]
        if self.pre.color == "gray" and image.ndim == 3:
            image = np.asarray(image.astype(np.float32) @ _GRAY_WEIGHTS, dtype=np.uint8)[..., np.newaxis]
        fitted, geometry = fit(image, height, width, self.pre)
        if self.pre.where == "aipp":
            return np.ascontiguousarray(fitted[np.newaxis]), geometry
        return self._adapter(fitted), geometry


_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma, as PIL's convert("L")
