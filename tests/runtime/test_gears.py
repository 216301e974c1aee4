"""The one gear policy of the runtimes (runtime/gears.py): a batch pads to the next gear, nothing else does."""
from __future__ import annotations

import numpy as np

from omdeploy.runtime.gears import Gears, Plan, pad_batch, slice_batch
from omdeploy.spec import DeploySpec


def test_a_batch_pads_to_the_next_bigger_gear_whatever_order_the_spec_lists():
    spec = DeploySpec.from_dict({"model": "m.onnx", "inputs": [{"name": "x", "shape": [-1, 3, 8, 8]}],
                                 "dynamic": {"mode": "batch", "gears": [8, 1, 4]}})
    gears = Gears.from_spec(spec)
    assert gears.plan((4,)) == Plan((4,))
    assert gears.plan((2,)) == Plan((4,), 2) and gears.plan((5,)) == Plan((8,), 5)
    assert gears.plan((9,)) is None and "at most 8" in gears.refusal_hint((9,))
    assert gears.plan((2,), pad=False) is None


def test_image_sizes_and_dims_are_never_padded():
    sizes = Gears("image_size", [(640, 640), (960, 960)])
    assert sizes.plan((960, 960)) == Plan((960, 960)) and sizes.plan((800, 800)) is None
    assert Gears("dims", [(1, 64), (1, 96)]).plan((1, 80)) is None
    assert Gears().plan((3,)) == Plan(None)


def test_the_smallest_gear_fills_the_dynamic_dims_it_owns():
    assert Gears("batch", [(4,), (2,)]).smallest(["?", 3, 8, 8], "NCHW") == [2, 3, 8, 8]
    assert Gears("image_size", [(32, 32), (16, 24)]).smallest([1, 3, -1, -1], "NCHW") == [1, 3, 16, 24]
    assert Gears("dims", [(2, 96), (1, 64)]).smallest([-1, 3, -1], "ND") == [1, 3, 64]
    assert Gears("dims", [(2, 96, 5)]).smallest([-1, 3, -1], "ND") is None  # the gear spans another input too


def test_pad_and_slice_round_trip():
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    padded = pad_batch(array, 4)
    assert padded.shape == (4, 3, 4) and not padded[2:].any()
    np.testing.assert_array_equal(slice_batch(padded, Plan((4,), 2)), array)
    assert slice_batch(np.zeros(7), Plan((4,), 2)).shape == (7,)  # no batch axis: kept whole
