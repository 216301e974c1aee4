"""Where the real models and photos fetched by scripts/fetch_assets.py live.

Looked up in order: $OMDEPLOY_ASSETS, a `.assets` folder in the current directory or any parent.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .errors import UserError

FETCH_HINT = "run scripts/fetch_assets.py (or scripts/setup.sh) from the omdeploy checkout, or set OMDEPLOY_ASSETS"


def assets_dir(explicit: Optional[os.PathLike] = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get("OMDEPLOY_ASSETS")
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    for folder in (here,) + tuple(here.parents):
        if (folder / ".assets").is_dir():
            return folder / ".assets"
    # the checkout this package was installed from in development mode
    checkout = Path(__file__).resolve().parents[2] / ".assets"
    return checkout


def asset(relative: str, root: Optional[os.PathLike] = None) -> Path:
    """Path of one asset, or a UserError that says how to fetch it."""
    path = assets_dir(root) / relative
    if not path.exists():
        raise UserError("asset {} is missing (looked in {})".format(relative, path.parent), hint=FETCH_HINT)
    return path
