"""Which output layout a detect/segment model has, inferred from its output shapes before any input runs, and
the one user error for a task that does not fit the model (a segment head read as detections, a detection head
read as a mask).

YOLOv8 layouts (Ultralytics export): detect output0 (1, 4 + C, N) with N anchors > 4 + C channels (or the rows
layout (1, N, 4 + C)); segment output0 (1, 4 + C + nm, N) plus output1 prototypes (1, nm, mh, mw).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

from ..errors import UserError

Shape = Sequence[Any]  # ints, or None / names for dynamic dims


def _dims(shape: Shape) -> Tuple[Optional[int], ...]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


def _shape_text(shape: Shape) -> str:
    return "({})".format(", ".join(str(d) if isinstance(d, int) and d > 0 else "?" for d in shape))


def head_layout(shape: Shape, num_extra: int = 0, head: str = "yolov8") -> Dict[str, Any]:
    """The layout of one detection head output: channels-first (4 + C + extra, N) or rows (N, 4 + C + extra)."""
    dims = _dims(shape)
    if len(dims) == 3 and dims[0] in (1, None):
        dims = dims[1:]
    if len(dims) != 2:
        raise UserError("a {} head is (1, channels, anchors) or (1, anchors, channels), got {}".format(
            head, _shape_text(shape)))
    a, b = dims
    if a is None or b is None:
        return {"head": head, "layout": "unknown (dynamic dims)", "shape": _shape_text(shape)}
    channels_first = head == "yolov8" and a < b
    channels, anchors = (a, b) if channels_first else (b, a)
    fixed = (4 if head == "yolov8" else 5) + num_extra
    classes = channels - fixed
    if classes < 1:
        raise UserError("a {} head{} needs more than {} values per anchor, got shape {}".format(
            head, " with {} mask coefficients".format(num_extra) if num_extra else "", fixed, _shape_text(shape)))
    return {"head": head, "layout": "(4+C{}, N) channels first".format("+nm" if num_extra else "")
            if channels_first else "(N, {}+C{}) rows".format(fixed - num_extra, "+nm" if num_extra else ""),
            "classes": classes, "anchors": anchors, "mask_coefficients": num_extra, "shape": _shape_text(shape)}


def _looks_like_head(shape: Shape) -> bool:
    """(1, a, b) with a and b far apart (84 x 8400): a detection head, not a (C, H, W) map."""
    dims = _dims(shape)
    if len(dims) != 3 or dims[0] != 1:
        return False
    a, b = dims[1], dims[2]
    return a is not None and b is not None and max(a, b) >= 8 * min(a, b)


def fit_task(task: str, outputs: Sequence[Tuple[str, Shape]], head: str = "yolov8") -> Dict[str, Any]:
    """The inferred layout of a detect/segment model from its (name, shape) outputs; a UserError when the task
    does not fit them (before any input runs)."""
    shapes = {name: shape for name, shape in outputs}
    protos = [n for n, s in outputs if len(s) == 4]
    heads = [n for n, s in outputs if len(s) in (2, 3)]
    listing = ", ".join("{} {}".format(n, _shape_text(s)) for n, s in outputs)
    if task == "detect":
        if protos and heads:
            raise UserError("--task detect on a segmentation model: outputs {} are a YOLOv8-seg head and its mask "
                            "prototypes".format(listing), hint="use --task segment")
        if not heads:
            raise UserError("--task detect needs a detection head output (1, 4+C, N), got {}".format(listing),
                            hint="a per-pixel map (1, C, H, W) is --task segment")
        layout = head_layout(shapes[heads[0]], head=head)
        return dict(layout, output=heads[0])
    if task != "segment":
        return {}
    if len(outputs) == 1:
        name, shape = outputs[0]
        if len(shape) == 4 or (len(shape) == 3 and not _looks_like_head(shape)):
            return {"layout": "per-pixel map (1, C, H, W)", "output": name, "shape": _shape_text(shape)}
        raise UserError("--task segment on a detection model: output {} is a detection head, not a mask".format(
            listing), hint="use --task detect, or export the -seg model (a head and its mask prototypes)")
    if len(protos) != 1 or not heads:
        raise UserError("--task segment needs a YOLOv8-seg head and its prototypes (1, nm, mh, mw) or one per-pixel "
                        "map (1, C, H, W), got {}".format(listing))
    masks = _dims(shapes[protos[0]])[1]
    layout = head_layout(shapes[heads[0]], num_extra=masks or 0, head="yolov8")
    return dict(layout, output=heads[0], prototypes=protos[0], prototype_shape=_shape_text(shapes[protos[0]]))


def session_outputs(session: Any) -> Sequence[Tuple[str, Shape]]:
    return [(o.name, tuple(o.shape)) for o in session.outputs]
