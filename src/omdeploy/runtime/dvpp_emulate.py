"""The DVPP path on the host: JPEG decode to YUV420SP (NV12) and VPC resize, as the box does it.

    nv12 = dvpp_nv12("photo.jpg", (224, 224))     # (224 * 3 / 2, 224) uint8, what the AIPP input takes

Used by the simulator (so `compare` covers `preprocess.where: dvpp`) and by runtime/dvpp.py for the images
the DVPP decoder refuses (host decoding, same output). What it follows, and what is approximate:

- JPEGD hands over the JPEG's own YCbCr samples (full range, JFIF), as NV12 for 4:2:0 sources, with odd
  widths/heights rounded down to even (acldvppJpegDecodeAsync, https://www.hiascend.com/document/detail/zh/
  canncommercial/601/inferapplicationdev/aclcppdevg/aclcppdevg_03_0188.html). Here libjpeg decodes to YCbCr
  (no RGB round trip) with its chroma upsampling, and chroma is averaged back over 2x2: within about 1 level
  of the stored samples, not bit-exact. Other sources (4:4:4, 4:2:2, gray) are resampled to 4:2:0 the same
  way. EXIF orientation is applied, as load_image does.
- VPC resize: interpolation 0 is OpenCV's bilinear on the 310P and 310B ("0: the system uses 1"; 1: "the
  same results as OpenCV 3.4.2", acldvppSetResizeConfigInterpolation, https://hiascend.com/document/detail/
  zh/canncommercial/62RC2/inferapplicationdev/aclcppdevg/aclcppdevg_03_1331.html), so cv2.resize INTER_LINEAR
  per plane. The 310 and 910 default to a proprietary filter that is NOT emulated (bilinear is used: expect
  larger differences there).
- The model-side tolerance this gives (compare, real photos): see docs/runtime.md, "DVPP".
"""
from __future__ import annotations

import os
from typing import Tuple, Union

import numpy as np


def even(value: int) -> int:
    return value - value % 2


def decode_ycbcr(path: Union[str, os.PathLike]) -> np.ndarray:
    """(H, W, 3) uint8 full-range YCbCr straight from libjpeg (chroma upsampled), EXIF orientation applied."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        if img.format == "JPEG" and img.mode in ("RGB", "YCbCr"):
            img.draft("YCbCr", img.size)  # libjpeg's own YCbCr: no conversion to RGB and back
        img = ImageOps.exif_transpose(img)
        if img.mode != "YCbCr":
            img = img.convert("RGB").convert("YCbCr")
        return np.asarray(img, np.uint8)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 -> full-range YCbCr uint8 by Pillow (its JFIF conversion), for images decoded already."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb[..., :3]), "RGB").convert("YCbCr"), np.uint8)


def rgb_to_dvpp_nv12(rgb: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """The DVPP path for an image decoded on the host already (the runner's workers): YCbCr, 4:2:0, resize."""
    return vpc_resize(ycbcr_to_nv12(rgb_to_ycbcr(rgb)), size)


def ycbcr_to_nv12(ycbcr: np.ndarray) -> np.ndarray:
    """(H, W, 3) YCbCr -> (H*3/2, W) NV12, cropped to even H and W; chroma averaged over 2x2."""
    h, w = even(ycbcr.shape[0]), even(ycbcr.shape[1])
    y = ycbcr[:h, :w, 0]
    chroma = ycbcr[:h, :w, 1:].astype(np.uint16).reshape(h // 2, 2, w // 2, 2, 2)
    uv = ((chroma.sum(axis=(1, 3)) + 2) // 4).astype(np.uint8)  # (h/2, w/2, [Cb, Cr]): NV12 is U then V
    return np.concatenate([y, uv.reshape(h // 2, w)], axis=0)


def vpc_resize(nv12: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """NV12 (H*3/2, W) -> NV12 at size (h, w), both even: bilinear per plane (OpenCV's INTER_LINEAR)."""
    import cv2

    out_h, out_w = size
    if out_h % 2 or out_w % 2:
        raise ValueError("YUV420SP needs an even width and height, got {}x{}".format(out_w, out_h))
    h = nv12.shape[0] * 2 // 3
    w = nv12.shape[1]
    y = cv2.resize(nv12[:h], (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    uv = nv12[h:].reshape(h // 2, w // 2, 2)
    uv = cv2.resize(uv, (out_w // 2, out_h // 2), interpolation=cv2.INTER_LINEAR)
    return np.concatenate([y, uv.reshape(out_h // 2, out_w)], axis=0)


def dvpp_nv12(path: Union[str, os.PathLike], size: Tuple[int, int]) -> np.ndarray:
    """What JPEGD + VPC resize make of the file at `size` (h, w): NV12 (h*3/2, w) uint8."""
    return vpc_resize(ycbcr_to_nv12(decode_ycbcr(path)), size)
