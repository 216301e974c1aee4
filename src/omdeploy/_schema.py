"""Typed records from plain dicts (YAML/JSON) with every problem reported at once.

A record is a dataclass. Field constraints sit in the field's metadata:
  choices=(...)       the value must be one of these (case-insensitive for strings, normalised to the choice)
  range=(lo, hi)      inclusive numeric bounds (None = open)
  doc="..."           one line shown by `omdeploy spec --schema` and in error hints
Unknown keys are errors with a did-you-mean. Cross-field rules go in a `validate(self) -> list[str]` method.
"""
from __future__ import annotations

import dataclasses
import sys
import typing
from typing import Any, Dict, List, Tuple, Type, TypeVar, Union

from .errors import UserError, did_you_mean, one_of

T = TypeVar("T")


class SchemaError(UserError):
    """Every problem found in one document, each as 'path: expected X, got Y'."""

    def __init__(self, problems: List[str], source: str = "spec"):
        self.problems = problems
        head = "{} has {} problem{}".format(source, len(problems), "" if len(problems) == 1 else "s")
        super().__init__("{}: {}".format(head, "; ".join(problems)))


def _origin(tp: Any) -> Any:
    return getattr(tp, "__origin__", None)


def _args(tp: Any) -> Tuple[Any, ...]:
    return getattr(tp, "__args__", ()) or ()


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(tp.__name__, tp.__name__)
    origin = _origin(tp)
    if origin in (list, List):
        return "list of {}".format(_type_name(_args(tp)[0]))
    if origin in (dict, Dict):
        return "mapping"
    if origin is Union:
        return " or ".join(_type_name(a) for a in _args(tp))
    return str(tp)


def _hints(cls: type) -> Dict[str, Any]:
    module = sys.modules[cls.__module__]
    return typing.get_type_hints(cls, vars(module))


def _convert(value: Any, tp: Any, path: str, problems: List[str]) -> Any:
    origin = _origin(tp)
    if tp is Any:
        return value
    if origin is Union:
        options = _args(tp)
        if value is None and type(None) in options:
            return None
        real = [o for o in options if o is not type(None)]
        if len(real) == 1:  # Optional[X]: report X's own problems
            return _convert(value, real[0], path, problems)
        if isinstance(value, dict):
            records = [o for o in real if dataclasses.is_dataclass(o)]
            if len(records) == 1:
                return _convert(value, records[0], path, problems)
        # try each alternative quietly; report once if none fits
        for option in options:
            if option is type(None):
                continue
            trial: List[str] = []
            out = _convert(value, option, path, trial)
            if not trial:
                return out
        problems.append("{}: expected {}, got {!r}".format(path, _type_name(tp), value))
        return None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            problems.append("{}: expected a mapping, got {!r}".format(path, value))
            return None
        return _build(tp, value, path, problems)
    if origin in (list, List, tuple, Tuple):
        if not isinstance(value, (list, tuple)):
            problems.append("{}: expected {}, got {!r}".format(path, _type_name(tp), value))
            return None
        (item_tp,) = _args(tp)[:1] or (Any,)
        return [_convert(v, item_tp, "{}[{}]".format(path, i), problems) for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            problems.append("{}: expected a mapping, got {!r}".format(path, value))
            return None
        _, val_tp = _args(tp) or (Any, Any)
        return {str(k): _convert(v, val_tp, "{}.{}".format(path, k), problems) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        problems.append("{}: expected true or false, got {!r}".format(path, value))
        return None
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append("{}: expected an integer, got {!r}".format(path, value))
            return None
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append("{}: expected a number, got {!r}".format(path, value))
            return None
        return float(value)
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # YAML reads `cann: 8.0` as a float
        if not isinstance(value, str):
            problems.append("{}: expected a string, got {!r}".format(path, value))
            return None
        return value
    return value


def _check_constraints(value: Any, meta: Any, path: str, problems: List[str]) -> Any:
    choices = meta.get("choices")
    if choices is not None and value is not None:
        if isinstance(value, str):
            lowered = {str(c).lower(): c for c in choices}
            if value.lower() in lowered:
                return lowered[value.lower()]
        elif value in choices:
            return value
        problems.append("{}: expected one of {}, got {!r}{}".format(path, one_of(choices), value,
                                                                   did_you_mean(value, choices)))
        return value
    bounds = meta.get("range")
    if bounds is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = bounds
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            problems.append("{}: expected a value in [{}, {}], got {}".format(
                path, "-inf" if lo is None else lo, "inf" if hi is None else hi, value))
    return value


def _build(cls: Type[T], data: Dict[str, Any], path: str, problems: List[str]) -> T:
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    prefix = path + "." if path else ""
    kwargs: Dict[str, Any] = {}
    for key, value in data.items():
        key = str(key)
        if key not in fields:
            problems.append("{}{}: unknown key{}; known keys: {}".format(
                prefix, key, did_you_mean(key, fields), one_of(sorted(fields))))
            continue
        field = fields[key]
        converted = _convert(value, hints[key], prefix + key, problems)
        kwargs[key] = _check_constraints(converted, field.metadata, prefix + key, problems)
    for name, field in fields.items():
        if name not in kwargs and field.default is dataclasses.MISSING and \
                field.default_factory is dataclasses.MISSING:
            problems.append("{}{}: required key is missing".format(prefix, name))
    if _missing_required(cls, kwargs):
        return None  # type: ignore[return-value]  # already reported above
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        problems.append("{}: {}".format(path or cls.__name__, exc))
        return None  # type: ignore[return-value]
    validate = getattr(obj, "validate", None)
    if validate is not None:
        try:
            found = list(validate())
        except (TypeError, AttributeError):  # a field that failed to build above is None here: already reported
            if not problems:
                raise
            found = []
        problems.extend("{}{}".format(prefix, p) if prefix else p for p in found)
    return obj


def _missing_required(cls: type, kwargs: Dict[str, Any]) -> bool:
    for f in dataclasses.fields(cls):
        if f.init and f.name not in kwargs and f.default is dataclasses.MISSING and \
                f.default_factory is dataclasses.MISSING:
            return True
    return False


def from_dict(cls: Type[T], data: Any, source: str = "spec") -> T:
    """Build `cls` from plain data, raising SchemaError listing every problem."""
    problems: List[str] = []
    if not isinstance(data, dict):
        raise SchemaError(["top level: expected a mapping, got {}".format(type(data).__name__)], source)
    obj = _build(cls, data, "", problems)
    if problems:
        raise SchemaError(problems, source)
    return obj


def to_dict(obj: Any, drop_defaults: bool = False) -> Any:
    """Plain data for YAML/JSON; with drop_defaults, fields equal to their default are left out."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: Dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if drop_defaults:
                if f.default is not dataclasses.MISSING and value == f.default:
                    continue
                if f.default_factory is not dataclasses.MISSING and value == f.default_factory():
                    continue
            out[f.name] = to_dict(value, drop_defaults)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_dict(v, drop_defaults) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v, drop_defaults) for k, v in obj.items()}
    return obj


def describe(cls: type, indent: str = "") -> List[str]:
    """The schema as indented lines: key, type, default and doc (for `omdeploy spec --schema`)."""
    lines: List[str] = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        default = ""
        if f.default is not dataclasses.MISSING:
            default = " = {!r}".format(f.default)
        elif f.default_factory is dataclasses.MISSING:
            default = " (required)"
        choices = f.metadata.get("choices")
        extra = " one of: {}".format(one_of(choices)) if choices else ""
        doc = f.metadata.get("doc", "")
        lines.append("{}{}: {}{}{}{}".format(indent, f.name, _type_name(tp), default, extra,
                                            "  # " + doc if doc else ""))
        inner = _args(tp)[0] if _origin(tp) in (list, List) else tp
        if _origin(inner) is Union:
            inner = next((a for a in _args(inner) if dataclasses.is_dataclass(a)), inner)
        if isinstance(inner, type) and dataclasses.is_dataclass(inner):
            lines.extend(describe(inner, indent + "  "))
    return lines
