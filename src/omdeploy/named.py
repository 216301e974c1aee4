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


# the largest dim a shape option takes: ATC and the runtimes store dims as int32/int64, and anything near
# 2**31 elements in one axis cannot be allocated anyway
MAX_DIM = 2 ** 31 - 1


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else "{:g}".format(value)


def parse_named(values: Sequence[str], what: str, example: str, cast: Callable[[str], Any] = float,
                minimum: Optional[float] = None, maximum: Optional[float] = None) -> Dict[str, List[Any]]:
    """['x:1,3,8,8', ...] -> {'x': [1, 3, 8, 8]} for options given as NAME:V1,V2,... (each name once, `cast` per
    value, each within [minimum, maximum] when given; never nan). A one-line UserError names the option, the
    value and the form."""
    parsed: Dict[str, List[Any]] = {}
    for text in values:
        name, rest = split_named(text)
        try:
            numbers = [cast(v) for v in rest.split(",")] if name else []
        except ValueError:
            numbers = []
        if not numbers or any(v != v for v in numbers) or (minimum is not None and min(numbers) < minimum) or \
                (maximum is not None and max(numbers) > maximum):
            bounds = " (each value {})".format(" and ".join(b for b in (
                "at least {}".format(_number(minimum)) if minimum is not None else "",
                "at most {}".format(_number(maximum)) if maximum is not None else "") if b)) \
                if minimum is not None or maximum is not None else ""
            raise UserError("{} {!r}: expected NAME:{}{}".format(what, text, example, bounds))
        if name in parsed and parsed[name] != numbers:
            raise UserError("{} {}: given twice ({} and {})".format(what, name, ",".join(
                "{:g}".format(v) for v in parsed[name]), ",".join("{:g}".format(v) for v in numbers)),
                hint="give each input once")
        parsed[name] = numbers
    return parsed


def parse_shapes(values: Sequence[str], what: str = "--shape",
                 example: str = "D1,D2,... (e.g. x:1,3,640,640)") -> Dict[str, List[int]]:
    """NAME:D1,D2,... input shapes: positive int dims, at most MAX_DIM each and MAX_DIM elements in all (a
    larger tensor cannot be allocated on any box: refused here, not as a MemoryError later)."""
    shapes = parse_named(values, what, example, int, minimum=1, maximum=MAX_DIM)
    for name, dims in shapes.items():
        elements = 1
        for d in dims:
            elements *= d
        if elements > MAX_DIM:
            raise UserError("{} {}: {} elements ({}), more than any device holds (at most {})".format(
                what, name, elements, ",".join(map(str, dims)), MAX_DIM), hint="give the shape the model takes")
    return shapes
