"""Finding image files; decoding lives one layer down in omdeploy.images (re-exported here)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, List, Sequence, Union


from ..errors import UserError
from ..log import logger
from ..images import MAX_PIXELS, load_image  # noqa: F401  (re-exported)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                  ".gif")


def files_with_suffixes(paths: Iterable[Union[str, os.PathLike]], suffixes: Sequence[str],
                        what: str = "") -> List[Path]:
    """Files as given (whatever their suffix); folders searched recursively for `suffixes`, sorted.

    The one folder scan of run, compare, jpeg and bench: hidden files and omdeploy's own records are passed
    over, any other file of another kind is reported (a warning naming a few), never dropped silently."""
    found: List[Path] = []
    others: List[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                if not p.is_file() or any(part.startswith(".") for part in p.relative_to(path).parts):
                    continue
                if p.suffix.lower() in suffixes:
                    found.append(p)
                elif not p.name.endswith((".jsonl", ".identity.json")):
                    others.append(p)
        elif path.exists():
            found.append(path)
        else:
            raise UserError("{} does not exist".format(path), hint="give image files, folders or video files")
    kinds = "/".join(sorted({s.lstrip(".") for s in suffixes}))
    if others and found:
        logger.warning("skipped %d file(s) that are not %s: %s%s", len(others), what or kinds,
                       ", ".join(str(p) for p in others[:3]), " ..." if len(others) > 3 else "")
    if not found:  # only empty folders (or folders of other files) were given: nothing to do is a mistake
        raise UserError("no {} files found in {}{}".format(kinds, ", ".join(str(p) for p in paths), "; only {} other "
                        "file(s), e.g. {}".format(len(others), others[0].name) if others else ""),
                        hint="folders are searched recursively for files with these suffixes")
    return found
