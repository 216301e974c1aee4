"""NAME:V1,V2,... values, the one parser: `--shape`, `--range`, sanitize's `--input-shape`, export's
`--dynamic` and ATC's own `--input_shape` entries.

The name ends at the LAST colon, as in ATC's --input_shape: ONNX names may hold colons (a TensorFlow export's
'input:0:1,3,8,8' is input 'input:0' with dims 1,3,8,8).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .errors import UserError


def split_named(text: str) -> Tuple[str, str]:
    """'input:0:1,3,8,8' -> ('input:0', '1,3,8,8'); no colon -> ('', text)."""
    name, _, rest = text.rpartition(":")
    return name, rest


def parse_named(values: Sequence[str], what: str, example: str, cast: Callable[[str], Any] = float,
                minimum: Optional[float] = None) -> Dict[str, List[Any]]:
    """['x:1,3,8,8', ...] -> {'x': [1, 3, 8, 8]} for options given as NAME:V1,V2,... (each name once, `cast` per
    value, each at least `minimum` when given). A one-line UserError names the option, the value and the form."""
    parsed: Dict[str, List[Any]] = {}
    for text in values:
        name, rest = split_named(text)
        try:
            numbers = [cast(v) for v in rest.split(",")] if name else []
        except ValueError:
            numbers = []
        if not numbers or (minimum is not None and min(numbers) < minimum):
            raise UserError("{} {!r}: expected NAME:{}{}".format(
                what, text, example, "" if minimum is None else " (each value at least {:g})".format(minimum)))
        if name in parsed and parsed[name] != numbers:
            raise UserError("{} {}: given twice ({} and {})".format(what, name, ",".join(
                "{:g}".format(v) for v in parsed[name]), ",".join("{:g}".format(v) for v in numbers)),
                hint="give each input once")
        parsed[name] = numbers
    return parsed
