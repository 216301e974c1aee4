"""`preprocess.where: dvpp` for a task: an image file decoded and resized as the box does it, straight from
the file (the runner hands over paths, not decoded images).

On the acl backend JPEGD + VPC run on the device (runtime/dvpp.DvppPreprocessor); the files JPEGD refuses are
decoded on the host and counted. On every other backend (the simulator, onnxruntime on the fp32 model) the
same path is emulated (runtime/dvpp_emulate: the JPEG's own YCbCr, bilinear VPC resize) and counted by the
same routing rule, so `omdeploy run --backend sim` says how many files the box would decode on its host.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import numpy as np

from .preprocess import Geometry


def source_hw(path: Union[str, os.PathLike], oriented: bool) -> Tuple[int, int]:
    """(height, width) of the image DVPP resizes: the file's size cropped to even (JPEGD's NV12), turned by its
    EXIF orientation where the decoder applies it (the host path; JPEGD does not)."""
    from PIL import Image

    from ..runtime.dvpp_emulate import even

    with Image.open(path) as img:
        width, height = img.size
        if oriented and img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # a quarter turn swaps the sides
            width, height = height, width
    return even(height), even(width)


class DvppInput:
    """path -> (the model's NV12 input, Geometry), with the count of files decoded on the device and on the host."""

    def __init__(self, session: Any, size: Tuple[int, int]):
        self.size = size
        self.soc_version = session.spec.target.soc_version if session.spec is not None else None
        from ..runtime.dvpp import DecodeCounts, DvppPreprocessor

        self._device = None
        if session.backend_name == "acl":
            self._device = DvppPreprocessor.for_session(session, self.soc_version)
        self.emulated = self._device is None
        self._lock = threading.Lock()  # one DVPP channel and stream; the runner prepares in several threads
        # the device's own counts on the box; the emulation's, counted by the same rule, elsewhere
        self.counts = DecodeCounts() if self._device is None else self._device.counts

    def __call__(self, path: Union[str, os.PathLike]) -> Tuple[Any, Geometry]:
        path = Path(path)
        if self._device is not None:
            with self._lock:
                before = self.counts.host
                value = self._device(path)
                on_host = self.counts.host > before
        else:
            from ..runtime.dvpp import host_reason
            from ..runtime.dvpp_emulate import dvpp_nv12

            reason = host_reason(path, self.soc_version)
            value = np.ascontiguousarray(dvpp_nv12(path, self.size)[np.newaxis, ..., np.newaxis])
            self.counts.add(reason)
            on_host = reason is not None
        source = source_hw(path, oriented=on_host)
        out_h, out_w = self.size
        return value, Geometry(out_w / source[1], out_h / source[0], 0.0, 0.0, source)  # VPC stretches

    def summary(self) -> Dict[str, Any]:
        """{"dvpp": files JPEGD decoded, "host": files decoded on the host, "host_reasons": {why: count},
        "emulated": True where no device ran it}."""
        return dict(self.counts.summary(), emulated=self.emulated)

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
