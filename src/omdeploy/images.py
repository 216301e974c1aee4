"""Images at the lowest layer: decoding files to RGB uint8 HWC arrays (one-line errors for files that are not
images) and resizing them as a spec's `preprocess` says (resize.py), with the geometry to map results back.

Every layer uses these (onnx/ verification, tasks/, tools/), so they sit beside spec.py; Pillow is imported
only when an image is actually decoded or resized.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Tuple, Union

import numpy as np

from ._optional import require
from .errors import UserError
from .log import warning_once
from .resize import Geometry, fit_policy, pil_resize as resize  # noqa: F401  (re-exported)
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


def fit(image: np.ndarray, height: int, width: int, pre: PreprocessSpec) -> Tuple[np.ndarray, Geometry]:
    """Resize an HWC uint8 image to (height, width) as `pre.resize` and `pre.policy` say (see resize.py)."""
    return fit_policy(image, height, width, pre.resize, pre.policy, pre.pad_value, pre.short_side)
