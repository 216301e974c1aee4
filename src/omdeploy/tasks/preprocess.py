"""Host-side preprocessing from the spec: resize (letterbox / stretch / crop / none) to the model's input size.

Normalisation (colour order, mean/std, layout, dtype) is the runtime's InputAdapter, applied with the same
spec, so both paths share one definition. The letterbox geometry is returned so boxes can be mapped back.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import numpy as np

from ..errors import UserError
from ..runtime.adapt import InputAdapter
from ..runtime.base import TensorInfo
from ..images import Geometry, fit  # noqa: F401  (Geometry re-exported: tasks map results back with it)
from ..resize import require_backend
from ..spec import PreprocessSpec


def input_hw(info: TensorInfo) -> Tuple[Optional[int], Optional[int]]:
    """(height, width) of an image input from its layout (ascend.contract.hw_axes); None for a dynamic dim."""
    from ..ascend.contract import image_hw

    return image_hw(info.shape, info.layout)


def to_gray(image: np.ndarray) -> np.ndarray:
    """RGB uint8 (..., 3) -> (..., 1) luma, exactly PIL's convert("L"): ITU-R BT.601 weights in 16-bit fixed
    point, rounded."""
    rgb = image.astype(np.uint32)
    luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
    return luma.astype(np.uint8)[..., np.newaxis]


def feed_format(info: TensorInfo, pre: Optional[PreprocessSpec]) -> str:
    """The pixels an image input takes: for the device's AIPP input (uint8, `where: aipp`) what the application
    feeds the .om (`device_format`, default `color`); on the host RGB (the input adapter swaps to BGR), or gray
    for a gray model."""
    if pre is None:
        return "rgb"
    if pre.where == "aipp" and np.dtype(info.dtype) == np.uint8:
        return pre.device_format or pre.color
    return "gray" if pre.color == "gray" else "rgb"


PIXEL_FORMATS = ("rgb", "bgr", "xrgb", "xbgr", "gray", "nv12", "nv21")  # what device_pixels makes from images


def check_pixel_format(pixel_format: str) -> str:
    if pixel_format not in PIXEL_FORMATS:
        raise UserError("the AIPP takes {} pixels; omdeploy makes {} from images".format(
            pixel_format, ", ".join(f.upper() for f in PIXEL_FORMATS)),
            hint="feed arrays already in {}, or set preprocess.device_format to one of those".format(pixel_format))
    return pixel_format


def device_pixels(image: np.ndarray, pixel_format: str, yuv_matrix: str = "bt601_narrow") -> np.ndarray:
    """Decoded RGB uint8 (..., 3) pixels as `pixel_format` (one of PIXEL_FORMATS) lays them out; nv12/nv21 as
    (H*3/2, W, 1) planes of one (H, W, 3) image."""
    check_pixel_format(pixel_format)
    if pixel_format == "rgb":
        return image
    if pixel_format in ("nv12", "nv21"):
        from ..ascend.contract import yuv420sp

        return yuv420sp(image, pixel_format == "nv21", yuv_matrix)
    if pixel_format == "bgr":
        return np.ascontiguousarray(image[..., ::-1])
    if pixel_format == "gray":
        return to_gray(image)
    ordered = image if pixel_format == "xrgb" else image[..., ::-1]
    return np.concatenate([np.zeros(image.shape[:-1] + (1,), np.uint8), ordered], axis=-1)


class ImagePreprocessor:
    """Resize and normalise RGB uint8 images for one model input, as the spec says, in the caller's thread.

    When the model carries AIPP (`where: aipp`) normalisation is the model's job, as on the device: the resized
    raw uint8 image goes in (NHWC), in the pixel format the application feeds (`device_format`), and with
    `spec` the geometry includes AIPP's centre crop. Otherwise the tensor comes out exactly as the model takes
    it, so the work is done here (in the runner's worker threads) and not in the inference thread.
    """

    def __init__(self, info: TensorInfo, pre: PreprocessSpec, spec: Any = None):
        self.info = info
        self.pre = pre
        # where: dvpp, the AIPP input takes DVPP's NV12 planes (1, H*3/2, W, 1): emulated here (runtime/dvpp_emulate)
        self._dvpp = pre.where == "dvpp" and np.dtype(info.dtype) == np.uint8 and input_hw(info)[0] is not None
        if self._dvpp:
            from ..ascend.contract import image_hw

            self.size = image_hw(info.shape, info.layout, "nv12")
            return
        self._adapter = InputAdapter(info, pre)
        if pre.resize != "none":
            require_backend(pre.policy)  # a missing OpenCV too, refused when opened
        self._crop = (0, 0)  # (top, left) AIPP crops from the image fed, before the model sees it
        fmt = feed_format(info, pre)
        self._aipp = pre.where == "aipp"
        if spec is not None and np.dtype(info.dtype) == np.uint8 and (pre.where == "aipp" or spec.atc.insert_op_conf):
            # the device contract: AIPP from preprocess or from the user's own insert_op_conf file
            from ..ascend.contract import feeding_contract

            contract = next((c for c in feeding_contract(spec) if c.name == info.name and c.aipp is not None), None)
            if contract is not None and contract.dynamic_aipp:
                from ..ascend.contract import dynamic_aipp_refused

                raise dynamic_aipp_refused("omdeploy's preprocessing")
            if contract is not None:
                self._aipp, fmt = True, contract.pixel_format or fmt
                if contract.aipp.crop:
                    self._crop = (contract.aipp.load_start_pos_h, contract.aipp.load_start_pos_w)
        self._format = check_pixel_format(fmt)  # refused when opened, not per image
        from ..ascend.contract import image_hw

        self.size = image_hw(info.shape, info.layout, self._format)

    @property
    def reads_dvpp(self) -> bool:
        """where: dvpp into an NV12 AIPP input: a file is best prepared from the file (tasks/dvpp_input)."""
        return self._dvpp

    def fixed_size(self) -> Tuple[int, int]:
        """The (height, width) every image is brought to; a UserError for an input whose size is dynamic."""
        height, width = self.size
        if height is None or width is None:
            raise UserError("input '{}' {} has a dynamic height or width; this task needs a fixed input size".format(
                self.info.name, self.info.shape_str()),
                hint="export the model with a fixed image size, or fix one: omdeploy sanitize MODEL --shape NAME:D1,D2,...")
        return height, width

    def __call__(self, image: np.ndarray, size: Optional[Tuple[int, int]] = None) -> Tuple[np.ndarray, Geometry]:
        height, width = size or self.size
        if self._dvpp:
            from ..runtime.dvpp_emulate import rgb_to_dvpp_nv12

            out_h, out_w = size or self.fixed_size()
            nv12 = rgb_to_dvpp_nv12(image, (out_h, out_w))  # VPC stretches to the model's size
            geometry = Geometry(out_w / image.shape[1], out_h / image.shape[0], 0.0, 0.0,
                                (image.shape[0], image.shape[1]))
            return nv12[np.newaxis, ..., np.newaxis], geometry
        if height is None or width is None:
            if self.pre.resize != "none":
                raise UserError("input '{}' has a dynamic size {}; resize mode {!r} needs a fixed one".format(
                    self.info.name, self.info.shape_str(), self.pre.resize), hint="set the input shape in the spec")
            height, width = image.shape[:2]
        fitted, geometry = fit(image, height, width, self.pre)
        if fitted.ndim == 3 and fitted.shape[-1] == 3:
            fitted = device_pixels(fitted, self._format, self.pre.yuv_matrix)
        if self._aipp:
            if self._crop != (0, 0):
                geometry = dataclasses.replace(geometry, pad_x=geometry.pad_x - self._crop[1],
                                               pad_y=geometry.pad_y - self._crop[0])
            return np.ascontiguousarray(fitted[np.newaxis]), geometry
        return self._adapter(fitted), geometry
