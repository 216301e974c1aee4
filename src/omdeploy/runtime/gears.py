"""The compiled gears of a dynamic .om, and the one policy both runtimes of it follow (sim and acl).

A gear is what ATC compiled: batch (b,), image_size (h, w), dims (the dynamic dims' values). A shape that is
a gear runs as is. A batch that is not a gear is zero-padded to the next bigger gear and the outputs are sliced
back, as an application on the box does with aclmdlSetDynamicBatchSize (the device only runs compiled gears);
anything else that is not a gear (a batch above the largest, an image size or dims not compiled, or a batch
with padding turned off) is refused with the list of gears.

    gears = Gears.from_spec(spec)
    plan = gears.plan((3,))            # Plan(gear=(4,), batch=3) with gears 1, 2, 4
    padded = [pad_batch(a, plan.gear[0]) for a in arrays]
    outputs = [slice_batch(o, plan) for o in outputs]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

import numpy as np

Gear = Tuple[int, ...]


@dataclass
class Plan:
    """How one call maps onto the device: the gear to set, and the real batch when padded up to gear[0]."""
    gear: Optional[Gear]
    batch: Optional[int] = None

    @property
    def padded_to(self) -> Optional[int]:
        """The gear's batch when the call is padded up to it."""
        return self.gear[0] if self.batch is not None and self.gear is not None else None

    def pad(self, array: np.ndarray) -> np.ndarray:
        """An input of this call as the device takes it (padded up to the gear's batch when needed)."""
        return array if self.padded_to is None else pad_batch(array, self.padded_to)


@dataclass
class Gears:
    """The compiled gears of a model: mode "batch" | "image_size" | "dims" (None: a static model)."""
    mode: Optional[str] = None
    values: List[Gear] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode == "batch":
            self.values = sorted(self.values)  # the next gear is the next bigger one

    @classmethod
    def from_spec(cls, spec: Any) -> "Gears":
        """The gears a spec compiles (its `dynamic` block: --dynamic_batch_size / _image_size / _dims)."""
        dynamic = getattr(spec, "dynamic", None)
        if dynamic is None or not dynamic.gears:
            return cls()
        return cls(dynamic.mode, [tuple(int(v) for v in g) for g in dynamic.gear_tuples()])

    def describe(self, sep: str = ", ") -> str:
        if self.mode == "image_size":
            return sep.join("{}x{}".format(*g) for g in self.values)
        return sep.join(",".join(str(v) for v in g) if len(g) > 1 else str(g[0]) for g in self.values)

    def plan(self, key: Gear, pad: bool = True) -> Optional[Plan]:
        """The gear for `key` (the dynamic dims' values, in the form the gears are written): itself when it is
        compiled, for a batch the next bigger gear when `pad`, else None (the device refuses it)."""
        if self.mode is None:
            return Plan(None)
        key = tuple(int(v) for v in key)
        if key in self.values:
            return Plan(key)
        if self.mode == "batch" and pad and len(key) == 1:
            bigger = [g for g in self.values if g[0] > key[0]]
            if bigger:
                return Plan(bigger[0], key[0])
        return None

    def smallest(self, shape: Any, layout: str) -> Optional[List[int]]:
        """`shape` with its dynamic dims set from the smallest gear, when this input's dynamic dims are the
        gear's alone (batch: dim 0; image_size: H and W; dims: one value per dynamic dim); None otherwise (dims
        gears of several dynamic inputs span them all)."""
        from ..ascend.contract import hw_axes

        dynamic = [i for i, d in enumerate(shape) if not (isinstance(d, int) and d > 0)]
        if not self.values or not dynamic:
            return None
        dims = list(shape)
        first = min(self.values, key=lambda g: (int(np.prod(g)), g))
        if self.mode == "batch" and dynamic == [0]:
            dims[0] = first[0]
        elif self.mode == "image_size" and tuple(dynamic) == hw_axes(layout, shape):
            dims[dynamic[0]], dims[dynamic[1]] = first
        elif self.mode == "dims" and len(dynamic) == len(first):
            for axis, value in zip(dynamic, first):
                dims[axis] = value
        else:
            return None
        return [int(d) for d in dims]

    def refusal_hint(self, key: Gear, pad: bool = True) -> str:
        """What to do about a `key` that plan() refused."""
        if self.mode == "batch":
            if self.values and key and key[0] > self.values[-1][0]:
                return "split the input into batches of at most {}".format(self.values[-1][0])
            if not pad:
                return "pass pad_batch=True to pad up to the next gear"
        if self.mode == "image_size":
            return "resize or pad the image to one of the gears"
        return "give inputs of a compiled gear"


def pad_batch(array: np.ndarray, batch: int) -> np.ndarray:
    """Zero-pad axis 0 up to `batch` (the next gear)."""
    if array.shape[0] == batch:
        return array
    padded = np.zeros((batch,) + array.shape[1:], array.dtype)
    padded[:array.shape[0]] = array
    return padded


def slice_batch(output: np.ndarray, plan: Plan) -> np.ndarray:
    """An output of a padded run, back to the real batch (outputs without the batch axis stay whole)."""
    if plan.batch is not None and plan.gear is not None and output.ndim and output.shape[0] == plan.gear[0]:
        return output[:plan.batch]
    return output


__all__ = ["Gears", "Plan", "pad_batch", "slice_batch"]
