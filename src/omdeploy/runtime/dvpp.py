"""`preprocess.where: dvpp` on the box: JPEG decode (JPEGD) and resize (VPC) on the device, through pyACL's
`acl.media`, feeding the model's AIPP input (NV12 at the model's size) without a trip through host memory.

    with Session("model.om") as session:                       # its AIPP takes nv12 at 224x224
        dvpp = DvppPreprocessor(session.backend, (224, 224))
        for out in session.run_many({"x": dvpp(p)} for p in paths):
            ...
        dvpp.summary()     # {"dvpp": 118, "host": 2, "host_reasons": {"progressive": 2}}
        dvpp.close()

What JPEGD refuses (the `jpeg` checker's rules: progressive, arithmetic, CMYK, 4:1:1, oversize ...; and any
file JPEGD still answers 148052 for) is decoded on the host instead (runtime/dvpp_emulate.py, the same NV12
layout) and counted, so one bad file neither fails the run nor goes unnoticed. The call sequence follows
the pyACL media API (JPEGD: https://www.hiascend.com/document/detail/en/canncommercial/800/apiref/appdevgapi/
aclpythondevg_01_0332.html; VPC: .../aclpythondevg_01_0306.html); tested on the fake, not yet on hardware.
"""
from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

import numpy as np

from ..errors import UserError

NV12 = 1  # acldvppPixelFormat PIXEL_FORMAT_YUV_SEMIPLANAR_420
UNSUPPORTED_JPEG = 148052
JPEGD_WIDTH_ALIGN, JPEGD_HEIGHT_ALIGN = 64, 16  # 310P/310B output strides (the 310 and 910 align to 128)
from ..ascend.jpeg_rules import VPC_HEIGHT_ALIGN, VPC_WIDTH_ALIGN  # noqa: E402  (DVPP facts)


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def host_reason(path: Union[str, os.PathLike], soc_version: Optional[str] = None) -> Optional[str]:
    """Why the DVPP JPEG decoder of `soc_version` would not take this file (the `jpeg` checker's first problem
    code; "not_jpeg" for a file that is not a JPEG by its name or by its bytes), None when it would: the one
    routing rule of the box and of its emulation."""
    from ..ascend.jpeg import JPEG_SUFFIXES, check_jpeg

    if Path(path).suffix.lower() not in JPEG_SUFFIXES:
        return "not_jpeg"  # the jpeg checker's code for the same finding
    verdict = check_jpeg(path, soc_version)
    return None if verdict.ok else verdict.problems[0].rule


class DecodeCounts:
    """Files decoded by JPEGD and on the host, and why: the counts of `where: dvpp`, on the box and in its
    emulation alike. Thread-safe (the runner prepares in several threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.dvpp = self.host = 0
        self.host_reasons: Counter = Counter()

    def add(self, host_reason: Optional[str]) -> None:
        """One file: decoded by JPEGD (None) or on the host for `host_reason`."""
        with self._lock:
            if host_reason is None:
                self.dvpp += 1
            else:
                self.host += 1
                self.host_reasons[host_reason] += 1

    def summary(self) -> Dict[str, object]:
        with self._lock:
            return {"dvpp": self.dvpp, "host": self.host, "host_reasons": dict(self.host_reasons)}


@dataclass
class DeviceImage:
    """An image already in device memory (a DVPP output): the acl backend copies it device to device into
    the model's input and then releases it."""
    pointer: int
    size: int
    release: Callable[[], None]


class DvppPreprocessor:
    """JPEG files -> NV12 (1, h*3/2, w, 1) at the model's size (h, w): on the device, or on the host for what
    JPEGD refuses. One channel, one stream, one resize config for its life; per image buffers are freed as
    soon as the next step has them."""

    def __init__(self, backend: Any, size: Tuple[int, int], soc_version: Optional[str] = None):
        height, width = size
        if width % VPC_WIDTH_ALIGN or height % VPC_HEIGHT_ALIGN:
            raise UserError("DVPP writes {}x{} (w x h) NV12 with its width padded to a multiple of {} and its height "
                            "to {}, which the model's input would not take".format(width, height, VPC_WIDTH_ALIGN,
                                                                                  VPC_HEIGHT_ALIGN),
                            hint="use preprocess.where: aipp (host decoding) for this model size")
        from .acl import check

        self.backend, self.size, self.soc_version = backend, (int(height), int(width)), soc_version
        self._acl = backend._acl
        self.counts = DecodeCounts()
        self._given: Set[int] = set()  # DVPP outputs handed out as DeviceImages and not yet released
        self._given_lock = threading.Lock()  # released by the model's thread while workers prepare more
        media = self._acl.media
        check(self._acl.rt.set_context(backend._context), "acl.rt.set_context")
        self._stream, ret = self._acl.rt.create_stream()
        check(ret, "acl.rt.create_stream")
        self._channel = media.dvpp_create_channel_desc()
        check(media.dvpp_create_channel(self._channel), "acl.media.dvpp_create_channel")
        self._resize = media.dvpp_create_resize_config()

    @classmethod
    def for_session(cls, session: Any, soc_version: Optional[str] = None) -> "DvppPreprocessor":
        """For an acl Session opened with a `where: dvpp` spec: the size from its NV12 input (1, h*3/2, w, 1)."""
        pre = session.spec.preprocess if session.spec is not None else None
        if pre is None or pre.where != "dvpp":
            raise UserError("{}: its spec does not say preprocess.where: dvpp".format(session.path),
                            hint="open the Session with the spec the .om was converted from")
        if session.backend_name != "acl":
            raise UserError("DVPP runs on the box's acl backend, not {}".format(session.backend_name),
                            hint="the simulator emulates it in the task preprocessing instead")
        shape = session.inputs[0].shape
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:3]) or shape[3] != 1:
            raise UserError("input {} is {}, not DVPP's NV12 planes (1, h*3/2, w, 1)".format(
                session.inputs[0].name, session.inputs[0].shape_str()))
        return cls(session.backend, (shape[1] * 2 // 3, shape[2]), soc_version)

    # ---- one image --------------------------------------------------------------------------------
    def __call__(self, path: Union[str, os.PathLike]) -> Union[DeviceImage, np.ndarray]:
        path = Path(path)
        reason = host_reason(path, self.soc_version)
        if reason is not None:
            return self._on_host(path, reason)
        image = self._on_device(path)
        return self._on_host(path, "JPEGD refused it (148052)") if image is None else image

    def _on_host(self, path: Path, reason: str) -> np.ndarray:
        from .dvpp_emulate import dvpp_nv12

        self.counts.add(reason)
        return np.ascontiguousarray(dvpp_nv12(path, self.size)[np.newaxis, ..., np.newaxis])

    def _on_device(self, path: Path) -> Optional[DeviceImage]:
        from .acl import acl_error, check

        acl, media = self._acl, self._acl.media
        check(acl.rt.set_context(self.backend._context), "acl.rt.set_context")
        data = np.fromfile(str(path), np.uint8)
        width, height, _, _, ret = media.dvpp_jpeg_get_image_info_v2(data.ctypes.data, data.nbytes)
        if ret == UNSUPPORTED_JPEG:
            return None
        check(ret, "acl.media.dvpp_jpeg_get_image_info_v2({})".format(path))
        decoded_size, ret = media.dvpp_jpeg_predict_dec_size(data.ctypes.data, data.nbytes, NV12)
        check(ret, "acl.media.dvpp_jpeg_predict_dec_size")
        out_h, out_w = self.size
        resized_size = out_w * out_h * 3 // 2  # strides equal the size: width % 16 == 0, height % 2 == 0
        memory: List[int] = []
        descs: List[Any] = []
        try:
            source = self._malloc(data.nbytes, memory)
            check(acl.rt.memcpy(source, data.nbytes, data.ctypes.data, data.nbytes, self.backend._copy_in),
                  "acl.rt.memcpy (JPEG {})".format(path))
            decoded = self._pic(descs, self._malloc(decoded_size, memory), decoded_size, width, height,
                                _align(width, JPEGD_WIDTH_ALIGN), _align(height, JPEGD_HEIGHT_ALIGN))
            check(media.dvpp_jpeg_decode_async(self._channel, source, data.nbytes, decoded, self._stream),
                  "acl.media.dvpp_jpeg_decode_async")
            target_memory = self._malloc(resized_size, memory)
            resized = self._pic(descs, target_memory, resized_size, out_w, out_h, out_w, out_h)
            check(media.dvpp_vpc_resize_async(self._channel, decoded, resized, self._resize, self._stream),
                  "acl.media.dvpp_vpc_resize_async")
            ret = acl.rt.synchronize_stream(self._stream)
            if ret == UNSUPPORTED_JPEG:
                return None
            if ret:
                raise acl_error(ret, "JPEGD + VPC of {} (at acl.rt.synchronize_stream)".format(path))
            memory.remove(target_memory)  # the caller's now: freed by DeviceImage.release (or by close)
            with self._given_lock:
                self._given.add(target_memory)
            self.counts.add(None)
            return DeviceImage(target_memory, resized_size, lambda: self._release(target_memory))
        finally:
            for desc in descs:
                media.dvpp_destroy_pic_desc(desc)
            for pointer in memory:
                self._free(pointer)

    def _malloc(self, size: int, owned: list) -> int:
        from .acl import check

        pointer, ret = self._acl.media.dvpp_malloc(size)
        check(ret, "acl.media.dvpp_malloc({})".format(size))
        owned.append(pointer)
        return pointer

    def _release(self, pointer: int) -> None:
        with self._given_lock:  # once: a second release of the same image is a no-op, not a double free
            if pointer not in self._given:
                return
            self._given.discard(pointer)
        self._free(pointer)

    def _free(self, pointer: int) -> None:
        from .acl import _warn_on_failure

        _warn_on_failure(self._acl.media.dvpp_free(pointer), "acl.media.dvpp_free")

    def _pic(self, descs: list, pointer: int, size: int, width: int, height: int, width_stride: int,
             height_stride: int) -> int:
        from .acl import check

        media = self._acl.media
        desc = media.dvpp_create_pic_desc()
        descs.append(desc)
        for name, value in (("data", pointer), ("size", size), ("format", NV12), ("width", width),
                            ("height", height), ("width_stride", width_stride), ("height_stride", height_stride)):
            check(getattr(media, "dvpp_set_pic_desc_" + name)(desc, value), "acl.media.dvpp_set_pic_desc_" + name)
        return desc

    # ---- reports and teardown ---------------------------------------------------------------------
    def summary(self) -> Dict[str, object]:
        return self.counts.summary()

    def close(self) -> None:
        from .acl import _warn_on_failure

        acl = self._acl
        for pointer in sorted(self._given):  # images prepared ahead and dropped (a cancelled or failed run)
            self._release(pointer)
        if self._resize:
            _warn_on_failure(acl.media.dvpp_destroy_resize_config(self._resize), "acl.media.dvpp_destroy_resize_config")
        if self._channel:
            _warn_on_failure(acl.media.dvpp_destroy_channel(self._channel), "acl.media.dvpp_destroy_channel")
            _warn_on_failure(acl.media.dvpp_destroy_channel_desc(self._channel), "acl.media.dvpp_destroy_channel_desc")
        if self._stream:
            _warn_on_failure(acl.rt.destroy_stream(self._stream), "acl.rt.destroy_stream")
        self._resize = self._channel = self._stream = 0
