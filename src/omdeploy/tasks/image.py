"""Finding image files; decoding lives one layer down in omdeploy.images (re-exported here)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, List, Sequence, Union


from ..errors import UserError
from ..images import MAX_PIXELS, load_image  # noqa: F401  (re-exported)

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
