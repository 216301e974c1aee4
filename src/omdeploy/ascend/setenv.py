"""What CANN's set_env.sh sets and where it is (reference/cann.md section 6), as data: the `set_env` and
`set_env_scripts` tables of data/environment.json. convert sets the variables when set_env.sh was not sourced,
the doctor checks them, and the pyACL backend names the script to source.

    apply(env, home=H, root=R, arch=A)    # env as sourcing set_env.sh leaves it
    checks()                              # the rows the doctor checks: {"vars", "expect", "how"}
    find_script(["/usr/local/Ascend"])    # the first set_env.sh under the roots

Standard library only: runtime/acl.py imports it on a box without onnx or torch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .knowledge import DATA


def rules() -> dict:
    """data/environment.json: set_env.sh, ATC's Python modules, the HAL library, unsupported packages."""
    return json.loads((DATA / "environment.json").read_text(encoding="utf-8"))


def apply(env: Dict[str, str], **values: str) -> None:
    """Set in `env` what sourcing set_env.sh sets; `values` fill the templates ({home}, {root}, {arch}). An
    `equals` row sets its variables, `contains` rows are prepended to the variable's value in table order."""
    added: Dict[str, List[str]] = {}
    for row in rules()["set_env"]:
        value = row["expect"].format(**values)
        for name in row["vars"]:
            if row["how"] == "equals":
                env[name] = value
            else:
                added.setdefault(name, []).append(value)
    for name, dirs in added.items():
        env[name] = os.pathsep.join(dirs + ([env[name]] if env.get(name) else []))


def checks() -> List[dict]:
    """The rows of the set_env table that the doctor checks (all but those marked "check": false)."""
    return [row for row in rules()["set_env"] if row.get("check", True)]


def find_script(roots: Sequence[str]) -> Optional[Path]:
    """The first set_env.sh found under the install roots (`~` expanded), in set_env_scripts order."""
    scripts = rules()["set_env_scripts"]
    for root in roots:
        for script in scripts:
            path = Path(os.path.expanduser(root)) / script
            if path.is_file():
                return path
    return None


__all__ = ["rules", "apply", "checks", "find_script"]
