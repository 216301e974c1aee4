"""acl.media: DVPP JPEG decode (JPEGD) and VPC resize (fake), with the documented pyACL signatures:

- `desc = dvpp_create_channel_desc()`, `ret = dvpp_create_channel(desc)`, `dvpp_destroy_channel(desc)`,
  `dvpp_destroy_channel_desc(desc)`; `ptr, ret = dvpp_malloc(size)`, `ret = dvpp_free(ptr)`
- `width, height, components, format, ret = dvpp_jpeg_get_image_info_v2(data, size)`: refuses what JPEGD
  cannot decode with ACL_ERROR_UNSUPPORTED_JPEG (https://hiascend.com/document/detail/zh/Atlas200IDKA2DeveloperKit/
  23.0.RC2/Application%20Development%20Guide/aadgp/aclpythondevg_01_0313.html)
- `size, ret = dvpp_jpeg_predict_dec_size(data, size, output_format)`
- `ret = dvpp_jpeg_decode_async(channel_desc, data, size, output_pic_desc, stream)`; data in DVPP memory
  (https://www.hiascend.com/document/detail/en/canncommercial/800/apiref/appdevgapi/aclpythondevg_01_0332.html)
- `ret = dvpp_vpc_resize_async(channel_desc, input_pic_desc, output_pic_desc, resize_config, stream)`
  (https://www.hiascend.com/document/detail/en/canncommercial/800/apiref/appdevgapi/aclpythondevg_01_0306.html)
- pic descs: `dvpp_create_pic_desc()`, `dvpp_set_pic_desc_{data,size,format,width,height,width_stride,
  height_stride}(desc, value)` -> ret, `dvpp_get_pic_desc_*(desc)` -> value, `dvpp_destroy_pic_desc(desc)`;
  `dvpp_create_resize_config()`, `dvpp_destroy_resize_config(config)`.

Its decoder and resizer are written independently of omdeploy's host emulation (runtime/dvpp_emulate.py):
RGB from Pillow, the JFIF full-range YCbCr formulas, 2x2 chroma means, a numpy bilinear with OpenCV's
half-pixel centres. JPEGD's output strides follow the 310P/310B rule: width aligned to 64, height to 16.
"""
from __future__ import annotations

import ctypes
import io
from typing import Dict

import numpy as np

from ._device import DEVICE, INVALID_HANDLE, INVALID_PARAM, OK, RT_PARAM_INVALID

UNSUPPORTED_JPEG = 148052
PIXEL_FORMAT_YUV_SEMIPLANAR_420 = 1  # NV12
_channels: Dict[int, bool] = {}  # channel desc -> channel created
_pics: Dict[int, Dict[str, int]] = {}
_resize_configs: Dict[int, int] = {}
PIC_FIELDS = ("data", "size", "format", "width", "height", "width_stride", "height_stride")


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


# ---- channels and memory -------------------------------------------------------------------------
def dvpp_create_channel_desc() -> int:
    desc = DEVICE.handle()
    _channels[desc] = False
    return desc


def dvpp_create_channel(desc: int) -> int:
    if desc not in _channels or DEVICE.ready():
        return INVALID_PARAM if desc not in _channels else DEVICE.ready()
    _channels[desc] = True
    DEVICE.stats["dvpp_create_channel"] += 1
    return OK


def dvpp_destroy_channel(desc: int) -> int:
    if not _channels.get(desc):
        return INVALID_PARAM
    _channels[desc] = False
    return OK


def dvpp_destroy_channel_desc(desc: int) -> int:
    if desc not in _channels or _channels[desc]:
        return INVALID_PARAM  # unknown, or its channel not destroyed first
    del _channels[desc]
    return OK


def dvpp_malloc(size: int):
    with DEVICE.lock:
        ptr, ret = DEVICE.malloc(size, 0)
        if ret == OK:
            DEVICE.stats["dvpp_malloc"] += 1
        return ptr, ret


def dvpp_free(ptr: int) -> int:
    with DEVICE.lock:
        return DEVICE.free(ptr)


def channel_leaks():
    return ["dvpp channel desc {}".format(d) for d in _channels] + ["pic desc {}".format(p) for p in _pics] + \
        ["resize config {}".format(c) for c in _resize_configs]


# ---- picture descriptions ------------------------------------------------------------------------
def dvpp_create_pic_desc() -> int:
    desc = DEVICE.handle()
    _pics[desc] = {name: 0 for name in PIC_FIELDS}
    return desc


def dvpp_destroy_pic_desc(desc: int) -> int:
    return OK if _pics.pop(desc, None) is not None else INVALID_PARAM


def _setter(field):
    def set_field(desc: int, value: int) -> int:
        if desc not in _pics or not isinstance(value, int) or value < 0:
            return INVALID_PARAM
        _pics[desc][field] = value
        return OK
    return set_field


def _getter(field):
    def get_field(desc: int) -> int:
        return _pics.get(desc, {}).get(field, 0)
    return get_field


for _field in PIC_FIELDS:
    globals()["dvpp_set_pic_desc_" + _field] = _setter(_field)
    globals()["dvpp_get_pic_desc_" + _field] = _getter(_field)


def dvpp_create_resize_config() -> int:
    config = DEVICE.handle()
    _resize_configs[config] = 0
    return config


def dvpp_destroy_resize_config(config: int) -> int:
    return OK if _resize_configs.pop(config, None) is not None else INVALID_PARAM


# ---- JPEGD ---------------------------------------------------------------------------------------
def _jpeg(data: int, size: int):
    """The decoded RGB image of the JPEG bytes at host or device address `data`, or an error code."""
    from PIL import Image, ImageOps

    if DEVICE.is_device(data):
        memory = DEVICE.read(data, size)
        if memory is None:
            return RT_PARAM_INVALID
        raw = memory.tobytes()
    else:
        raw = ctypes.string_at(data, size)
    if not raw.startswith(b"\xff\xd8"):
        return UNSUPPORTED_JPEG
    try:
        img = Image.open(io.BytesIO(raw))
        if img.format != "JPEG" or img.info.get("progressive") or img.info.get("progression") \
                or img.mode not in ("L", "RGB"):
            return UNSUPPORTED_JPEG  # progressive, CMYK...: what JPEGD refuses (148052)
        if min(img.size) < 32 or max(img.size) > 8192:
            return UNSUPPORTED_JPEG
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except (OSError, ValueError):
        return UNSUPPORTED_JPEG


def dvpp_jpeg_get_image_info_v2(data: int, size: int):
    decoded = _jpeg(data, size)
    if isinstance(decoded, int):
        return 0, 0, 0, 0, decoded
    return decoded.shape[1], decoded.shape[0], 3, 0, OK


def dvpp_jpeg_predict_dec_size(data: int, size: int, output_format: int):
    width, height, _, _, ret = dvpp_jpeg_get_image_info_v2(data, size)
    if ret:
        return 0, ret
    if output_format != PIXEL_FORMAT_YUV_SEMIPLANAR_420:
        return 0, INVALID_PARAM  # the fake decodes to NV12 only
    return _align(width, 64) * _align(height, 16) * 3 // 2, OK


def _rgb_to_nv12(rgb: np.ndarray) -> np.ndarray:
    """JFIF full-range YCbCr (ITU-T T.871), 2x2 chroma means; even width and height."""
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    r, g, b = (rgb[:h, :w, c].astype(np.float64) for c in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    half = lambda p: p.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))  # noqa: E731
    uv = np.stack([half(cb), half(cr)], axis=-1).reshape(h // 2, w)
    to8 = lambda p: np.clip(np.round(p), 0, 255).astype(np.uint8)  # noqa: E731
    return np.concatenate([to8(y), to8(uv)], axis=0)


def _write_pic(desc: Dict[str, int], nv12: np.ndarray) -> int:
    h, w = nv12.shape[0] * 2 // 3, nv12.shape[1]
    ws, hs = desc["width_stride"], desc["height_stride"]
    if ws < w or hs < h or desc["size"] < ws * hs * 3 // 2 or desc["format"] != PIXEL_FORMAT_YUV_SEMIPLANAR_420:
        return INVALID_PARAM
    memory = DEVICE.read(desc["data"], ws * hs * 3 // 2)
    if memory is None:
        return RT_PARAM_INVALID
    planes = memory.reshape(hs * 3 // 2, ws)
    planes[:h, :w] = nv12[:h]
    planes[hs:hs + h // 2, :w] = nv12[h:]
    desc["width"], desc["height"] = w, h
    return OK


def _read_pic(desc: Dict[str, int]):
    w, h, ws, hs = desc["width"], desc["height"], desc["width_stride"], desc["height_stride"]
    memory = DEVICE.read(desc["data"], ws * hs * 3 // 2)
    if memory is None or not (w and h) or ws < w or hs < h:
        return None
    planes = memory.reshape(hs * 3 // 2, ws)
    return np.concatenate([planes[:h, :w], planes[hs:hs + h // 2, :w]], axis=0)


def dvpp_jpeg_decode_async(channel_desc: int, data: int, size: int, output_desc: int, stream: int) -> int:
    on = DEVICE.streams.get(stream)
    if not _channels.get(channel_desc) or output_desc not in _pics or on is None:
        return INVALID_HANDLE if on is None else INVALID_PARAM
    if not DEVICE.is_device(data) or DEVICE.find(data, size) is None:
        return INVALID_PARAM  # JPEGD reads DVPP memory (acl.media.dvpp_malloc), not host memory
    DEVICE.stats["dvpp_jpeg_decode_async"] += 1

    def decode() -> int:
        decoded = _jpeg(data, size)
        if isinstance(decoded, int):
            return decoded
        with DEVICE.lock:
            return _write_pic(_pics[output_desc], _rgb_to_nv12(decoded))

    on.submit(decode)
    return OK


# ---- VPC resize ----------------------------------------------------------------------------------
def _bilinear(plane: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear with half-pixel centres and edge clamping (OpenCV's INTER_LINEAR convention)."""
    in_h, in_w = plane.shape[:2]

    def taps(out_n: int, in_n: int):
        x = (np.arange(out_n) + 0.5) * in_n / out_n - 0.5
        x = np.clip(x, 0, in_n - 1)
        lo = np.floor(x).astype(int)
        hi = np.minimum(lo + 1, in_n - 1)
        return lo, hi, x - lo

    y0, y1, fy = taps(out_h, in_h)
    x0, x1, fx = taps(out_w, in_w)
    p = plane.astype(np.float64)
    if p.ndim == 2:
        p = p[..., None]
    fx3, fy3 = fx[None, :, None], fy[:, None, None]
    top = p[y0][:, x0] * (1 - fx3) + p[y0][:, x1] * fx3
    bottom = p[y1][:, x0] * (1 - fx3) + p[y1][:, x1] * fx3
    out = np.clip(np.round(top * (1 - fy3) + bottom * fy3), 0, 255).astype(np.uint8)
    return out[..., 0] if plane.ndim == 2 else out


def dvpp_vpc_resize_async(channel_desc: int, input_desc: int, output_desc: int, resize_config: int,
                          stream: int) -> int:
    on = DEVICE.streams.get(stream)
    if on is None:
        return INVALID_HANDLE
    if not _channels.get(channel_desc) or input_desc not in _pics or output_desc not in _pics \
            or resize_config not in _resize_configs:
        return INVALID_PARAM
    out = _pics[output_desc]
    if out["width_stride"] % 16 or out["height_stride"] % 2 or out["width"] % 2 or out["height"] % 2:
        return INVALID_PARAM  # VPC's YUV420SP output: width stride aligned to 16, height to 2
    DEVICE.stats["dvpp_vpc_resize_async"] += 1

    def resize() -> int:
        with DEVICE.lock:
            source = _read_pic(_pics[input_desc])
            if source is None:
                return INVALID_PARAM
            h, w = source.shape[0] * 2 // 3, source.shape[1]
            out_w, out_h = out["width"], out["height"]
            y = _bilinear(source[:h], out_h, out_w)
            uv = _bilinear(source[h:].reshape(h // 2, w // 2, 2), out_h // 2, out_w // 2).reshape(out_h // 2, out_w)
            return _write_pic(out, np.concatenate([y, uv], axis=0))

    on.submit(resize)
    return OK
