"""Images at the lowest layer: decoding files to RGB uint8 HWC arrays (one-line errors for files that are not
images) and resizing them as a spec's `preprocess.resize` says, with the geometry to map results back.

Every layer uses these (onnx/ verification, tasks/, tools/), so they sit beside spec.py; Pillow is imported
only when an image is actually decoded or resized.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from ._optional import require
from .errors import UserError
from .log import warning_once
from .spec import PreprocessSpec

MAX_PIXELS = 16384 * 16384
_EXIF_ORIENTATION = 0x0112


def load_image(path: Union[str, os.PathLike]) -> np.ndarray:
    """RGB uint8 array (H, W, 3); EXIF orientation applied, as the DVPP decoder does.

    Every mode Pillow reads becomes the picture it shows: 16-bit and 32-bit integer images are scaled down
    (v / 257 for 16-bit, so a 16-bit PNG and its 8-bit version decode alike, not all white); float images
    in [0, 1] are scaled by 255, others clipped to 0..255 (not all black); palette, CMYK, LA and RGBA go
    through Pillow's conversion; of a multi-frame file (GIF, TIFF) the first frame is used, with a note.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("{} does not exist".format(path) if not path.exists() else "{} is not a file".format(path))
    if path.stat().st_size == 0:
        raise UserError("{} is empty (0 bytes)".format(path))
    return _decode(path, str(path))


def decode_image(data: bytes, name: str = "the upload") -> np.ndarray:
    """load_image for encoded bytes (e.g. an HTTP upload): the same checks, EXIF rule and mode conversions."""
    if not data:
        raise UserError("{} is empty (0 bytes)".format(name))
    return _decode(io.BytesIO(data), name)


def _decode(source, name: str) -> np.ndarray:
    Image = require("PIL.Image", "decoding images")
    from PIL import ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: the MAX_PIXELS check below says it
            with Image.open(source) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise UserError("{} is {}x{}, larger than {} pixels".format(name, img.width, img.height,
                                                                               MAX_PIXELS),
                                    hint="downscale it first; omdeploy refuses images past Pillow-style bomb limits")
                if getattr(img, "n_frames", 1) > 1:
                    warning_once(("frames", name), "%s has %d frames; using the first", name, img.n_frames)
                    img.seek(0)
                if img.getexif().get(_EXIF_ORIENTATION, 1) != 1:  # exif_transpose copies even when nothing turns
                    img = ImageOps.exif_transpose(img)
                return to_rgb8(img)
    except UserError:
        raise
    except Exception as exc:  # PIL raises UnidentifiedImageError, OSError (truncated), SyntaxError, ...
        raise UserError("{} is not a readable image: {}".format(name, str(exc).splitlines()[0][:160])) from None


def to_rgb8(img) -> np.ndarray:
    """A decoded PIL image as RGB uint8 (H, W, 3), right for high bit depths and floats (see load_image)."""
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img)
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(img)
        if mode == "F":
            values = values.astype(np.float64)
            finite = values[np.isfinite(values)]
            if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
                values = values * 255.0
        elif mode.startswith("I;16") or values.max(initial=0) <= 65535:
            values = values.astype(np.float64) / 257.0
        else:  # 32-bit integers past the 16-bit range: scale the full range down
            values = values.astype(np.float64) / 16843009.0
        gray = np.clip(np.nan_to_num(np.rint(values)), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")  # transparent pixels keep their colour, as cv2.imread's BGR does
    return np.asarray(img.convert("RGB"))


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


def resize(image: np.ndarray, width: int, height: int,
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
        return resize(image, width, height), Geometry(width / w, height / h, 0.0, 0.0, (h, w))
    if mode == "letterbox":
        scale = min(width / w, height / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        resized = resize(image, nw, nh)
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
    cropped = resize(image, width, height, box=(left * sx, top * sy, (left + width) * sx, (top + height) * sy))
    return cropped, Geometry(nw / w, nh / h, -float(left), -float(top), (h, w))
