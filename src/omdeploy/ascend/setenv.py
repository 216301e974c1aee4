"""What CANN's set_env.sh sets and where CANN is installed (docs/reference.md [cann-install]), as data: the
`set_env` and `install_layout` tables of data/environment.json, read once. convert sets the variables when
set_env.sh was not sourced, the doctor checks them, and the pyACL backend names the script to source.

    apply(env, home=H, root=R, arch=A)    # env as sourcing set_env.sh leaves it
    checks()                              # the rows the doctor checks: {"vars", "expect", "how"}
    install_roots(env)                    # /usr/local/Ascend, $HOME/Ascend
    find_script(["/usr/local/Ascend"])    # the first set_env.sh under the roots, in set_env_scripts() order
    root_of_home(H)                       # /usr/local/Ascend of /usr/local/Ascend/ascend-toolkit/latest

Standard library only: runtime/acl.py imports it on a box without onnx or torch.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .knowledge import DATA


@functools.lru_cache(maxsize=None)
def _table() -> str:
    return (DATA / "environment.json").read_text(encoding="utf-8")


def rules() -> Dict[str, Any]:
    """data/environment.json: set_env.sh, the install layout, ATC's Python modules, the HAL library, unsupported
    packages (read once; each call returns a fresh copy that callers may change)."""
    return json.loads(_table())


def install_layout() -> Dict[str, Any]:
    return rules()["install_layout"]


def install_roots(env: Optional[Mapping[str, str]] = None) -> List[Path]:
    """The standard install roots (/usr/local/Ascend, then $HOME/Ascend with HOME from `env`)."""
    env = os.environ if env is None else env
    home = env.get("HOME", "~")
    return [Path(home + root[1:] if root.startswith("~") else root).expanduser()
            for root in install_layout()["roots"]]


def set_env_scripts() -> List[str]:
    """The set_env.sh scripts under a root, in the order they are tried: the toolkit's, then the runtime-only one."""
    layout = install_layout()
    return list(layout["toolkit_scripts"]) + list(layout["runtime_scripts"])


def root_of_home(home: Path) -> Path:
    """The install root of a toolkit home: two levels up from <root>/ascend-toolkit/latest, one from <root>/cann."""
    home = Path(home)
    return home.parent.parent if home.parent.name == install_layout()["versions_parent"] else home.parent


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
    """The first set_env.sh found under the install roots (`~` expanded), in set_env_scripts() order."""
    scripts = set_env_scripts()
    for root in roots:
        for script in scripts:
            path = Path(os.path.expanduser(root)) / script
            if path.is_file():
                return path
    return None


__all__ = ["rules", "apply", "checks", "install_layout", "install_roots", "set_env_scripts", "root_of_home",
           "find_script"]
