"""Decoding images to RGB uint8 HWC arrays, with one-line errors for files that are not images."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, List, Sequence, Union

import numpy as np

from .._optional import require
from ..errors import UserError

MAX_PIXELS = 16384 * 16384
_EXIF_ORIENTATION = 0x0112


def load_image(path: Union[str, os.PathLike]) -> np.ndarray:
    """RGB uint8 array (H, W, 3); EXIF orientation applied, as the DVPP decoder does."""
    Image = require("PIL.Image", "decoding images")
    from PIL import ImageOps

    path = Path(path)
    if not path.is_file():
        raise UserError("{} does not exist".format(path) if not path.exists() else "{} is not a file".format(path))
    if path.stat().st_size == 0:
        raise UserError("{} is empty (0 bytes)".format(path))
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise UserError("{} is {}x{}, larger than {} pixels".format(path, img.width, img.height, MAX_PIXELS))
            if img.getexif().get(_EXIF_ORIENTATION, 1) != 1:  # exif_transpose copies even when nothing turns
                img = ImageOps.exif_transpose(img)
            return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
    except UserError:
        raise
    except Exception as exc:  # PIL raises UnidentifiedImageError, OSError (truncated), SyntaxError, ...
        raise UserError("{} is not a readable image: {}".format(path, str(exc).splitlines()[0][:160])) from None


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def files_with_suffixes(paths: Iterable[Union[str, os.PathLike]], suffixes: Sequence[str]) -> List[Path]:
    """Files as given (whatever their suffix); folders searched recursively for `suffixes`, sorted."""
    found: List[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and p.is_file()))
        elif path.exists():
            found.append(path)
        else:
            raise UserError("{} does not exist".format(path), hint="give image files, folders or video files")
    if not found:  # only empty folders (or folders of other files) were given: nothing to do is a mistake
        raise UserError("no {} files found in {}".format("/".join(sorted({s.lstrip(".") for s in suffixes})),
                                                        ", ".join(str(p) for p in paths)),
                        hint="folders are searched recursively for files with these suffixes")
    return found
