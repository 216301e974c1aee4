"""Input adaptation: turn what the caller gave into what the model takes, or say exactly why not.

Unambiguous conversions are made and logged once per input: float32 <-> float16, a missing batch dim, an
HWC/NHWC array given to an NCHW input, int32 -> int64. A uint8 image given to a float input is converted
only when a PreprocessSpec says how (colour order, mean/std). Everything else is a UserError naming the
input, what was expected and what was given.

Decisions are made (and logged) once per (dtype, shape) per input and cached, so the steady-state cost of a
call is one dict look-up.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import UserError
from ..log import logger
from ..spec import PreprocessSpec
from .base import TensorInfo

Step = Callable[[np.ndarray], np.ndarray]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float16))
_SAFE_INT_CASTS = {
    (np.dtype(np.int32), np.dtype(np.int64)), (np.dtype(np.int16), np.dtype(np.int64)),
    (np.dtype(np.uint8), np.dtype(np.int64)), (np.dtype(np.uint8), np.dtype(np.int32)),
    (np.dtype(np.int16), np.dtype(np.int32)), (np.dtype(np.bool_), np.dtype(np.uint8)),
}


class InputAdapter:
    def __init__(self, info: TensorInfo, preprocess: Optional[PreprocessSpec] = None):
        self.info = info
        self.preprocess = preprocess
        self._plans: Dict[Tuple[str, Tuple[int, ...]], Tuple[Step, ...]] = {}

    def __call__(self, value: object) -> np.ndarray:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        key = (array.dtype.str, array.shape)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(array.dtype, array.shape)
            self._plans[key] = plan
        for step in plan:
            array = step(array)
        return array if array.flags.c_contiguous else np.ascontiguousarray(array)

    # ------------------------------------------------------------------------------------------------
    def _fail(self, what: str, hint: Optional[str] = None) -> UserError:
        info = self.info
        return UserError("input '{}': expected {} {}, {}".format(
            info.name, np.dtype(info.dtype).name, info.shape_str(), what), hint=hint)

    def _plan(self, dtype: np.dtype, shape: Tuple[int, ...]) -> Tuple[Step, ...]:
        info, want = self.info, np.dtype(self.info.dtype)
        steps: List[Step] = []
        name = info.name

        # 1. rank: add a leading batch dim when that is the only difference
        if len(shape) == info.rank - 1 and info.rank >= 2 and not (isinstance(info.shape[0], int) and info.shape[0] != 1):
            steps.append(lambda a: a[np.newaxis])
            logger.info("input '%s': added the batch dimension (got %s, model takes %s)",
                      name, shape, info.shape_str())
            shape = (1,) + tuple(shape)
        if len(shape) != info.rank:
            raise self._fail("got rank {} {} {}".format(len(shape), np.dtype(dtype).name, tuple(shape)))

        # 2. layout: channels-last given to a channels-first input
        if info.rank == 4 and info.layout == "NCHW" and not self._fits(shape):
            channels = info.shape[1]
            nhwc = (shape[0], shape[3], shape[1], shape[2])
            if isinstance(channels, int) and shape[3] == channels and self._fits(nhwc):
                steps.append(lambda a: a.transpose(0, 3, 1, 2))
                logger.info("input '%s': transposed NHWC %s to NCHW %s", name, shape, nhwc)
                shape = nhwc
        if not self._fits(shape):
            raise self._fail("got shape {}".format(tuple(shape)))

        # 3. dtype
        dtype = np.dtype(dtype)
        if dtype != want:
            steps.extend(self._dtype_steps(dtype, want))

        return tuple(steps)

    def _fits(self, shape: Tuple[int, ...]) -> bool:
        return len(shape) == self.info.rank and all(
            not isinstance(d, int) or d < 0 or d == s for d, s in zip(self.info.shape, shape))

    def _dtype_steps(self, have: np.dtype, want: np.dtype) -> List[Step]:
        name = self.info.name
        if have in _FLOATS and want in _FLOATS:
            logger.info("input '%s': cast %s to %s (the model takes %s)",
                      name, have.name, want.name, want.name)
            return [lambda a: a.astype(want)]
        if have == np.uint8 and want.kind == "f":
            if self.preprocess is None:
                raise self._fail("got uint8 (an image?)",
                                 hint="give Session a spec with `preprocess` (mean/std, colour order) to "
                                      "normalise images, or pass normalised {} data".format(want.name))
            logger.info("input '%s': normalised uint8 image to %s with the spec's preprocess",
                      name, want.name)
            return [self._normaliser(want)]
        if (have, want) in _SAFE_INT_CASTS:
            logger.info("input '%s': cast %s to %s", name, have.name, want.name)
            return [lambda a: a.astype(want)]
        hint = "cast it first, e.g. array.astype(np.{})".format(want.name)
        if have == np.float64:
            hint = "float64 is never converted silently: " + hint
        raise self._fail("got {}".format(have.name), hint=hint)

    def _normaliser(self, want: np.dtype) -> Step:
        pre = self.preprocess
        assert pre is not None
        channel_axis = 1 if self.info.layout == "NCHW" else self.info.rank - 1
        dim = self.info.shape[channel_axis]
        channels = dim if isinstance(dim, int) else 3
        mean, std = pre.normalisation(channels)
        view = [1] * self.info.rank
        view[channel_axis] = channels
        mean, scale = mean.reshape(view), (1.0 / std).reshape(view)
        swap = pre.color == "bgr" and channels == 3  # images arrive RGB (as decoded by PIL)

        def normalise(a: np.ndarray) -> np.ndarray:
            if swap:
                a = np.flip(a, axis=channel_axis)
            out = (a.astype(np.float32) - mean) * scale
            return out.astype(want, copy=False)

        return normalise
