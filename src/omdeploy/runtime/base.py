"""The backend protocol every runtime implements, and the tensor metadata they report."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..spec import guess_layout  # noqa: F401  (re-exported: backends guess layouts of models without a spec)

Dim = Union[int, str]  # an int, or a name for a dynamic dim ("?" when the model gives no name)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: Tuple[Dim, ...]
    dtype: np.dtype
    layout: str = "ND"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_dynamic(self) -> bool:
        return any(not isinstance(d, int) for d in self.shape)

    def shape_str(self) -> str:
        return "[" + ", ".join(str(d) for d in self.shape) + "]"

    def to_dict(self) -> Dict[str, object]:
        return {"name": self.name, "shape": list(self.shape), "dtype": np.dtype(self.dtype).name,
                "layout": self.layout}


class Backend:
    """What Session needs from a runtime. Subclasses set `name` and fill the four members below.

    run() receives feeds that Session has already checked and adapted to `inputs` (right names, dtypes
    and ranks), and returns outputs in the order of `outputs`.
    """

    name = "backend"
    # True when `inputs` describe the device's own contract (sim, acl, mindx): a spec's layouts then do not
    # override them (an AIPP input takes uint8 NHWC whatever the ONNX layout was)
    reports_device_layouts = False

    inputs: List[TensorInfo]
    outputs: List[TensorInfo]

    def run(self, feeds: Dict[str, np.ndarray], output_names: Optional[Sequence[str]] = None) -> List[np.ndarray]:
        raise NotImplementedError

    def run_many(self, feeds: Iterable[Dict[str, np.ndarray]], output_names: Optional[Sequence[str]] = None
                 ) -> Iterator[List[np.ndarray]]:
        """run() over many feeds, outputs in input order. This default is a plain loop; a backend whose
        device works beside the host (acl) overlaps copying and computing here."""
        for named in feeds:
            yield self.run(named, output_names)

    def close(self) -> None:
        pass

    def describe(self) -> Dict[str, object]:
        """Backend-specific facts for reports (providers, device, version)."""
        return {}
