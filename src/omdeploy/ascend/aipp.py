"""AIPP: the typed `aipp_op { ... }` config ATC takes with --insert_op_conf, its text format, builders from
intent or from a DeploySpec, and `emulate`, the documented computation on the host (docs/reference.md [aipp]).

Static AIPP computes, in this order: channel swap (rbuv_swap / ax_swap) -> crop -> colour-space conversion
(Q8 integer matrix) -> DTC (`(x - mean_chn - min_chn) * var_reci_chn` in float16) -> padding. `emulate`
reproduces that order on uint8 numpy images and returns the float16 NCHW tensor the network's first layer
sees. Field ranges and defaults are the FIELDS table below; the cross-field rules are in `AippConfig.problems`.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .._schema import SchemaError, from_dict
from ..errors import UserError, did_you_mean, one_of

# input_format values AIPP accepts, and the ones the docs list as reserved / not supported
INPUT_FORMATS = ("YUV420SP_U8", "XRGB8888_U8", "RGB888_U8", "YUV400_U8")
RESERVED_INPUT_FORMATS = ("ARGB8888_U8", "YUYV_U8", "YUV422SP_U8", "AYUV444_U8", "RAW10", "RAW12", "RAW16",
                          "RAW24", "NC1HWC0DI_FP16", "NC1HWC0DI_S8")
BYTES_PER_PIXEL = {"YUV420SP_U8": 1.5, "XRGB8888_U8": 4, "RGB888_U8": 3, "YUV400_U8": 1}
MAX_PADDING = 32

_INT16 = (-32677, 32676)  # the range the AIPP template states for matrix_* (sic)

# (name, type, default, (lo, hi) or None, doc); default dataclasses.MISSING = required
FIELDS: List[Tuple[str, type, Any, Optional[Tuple[Any, Any]], str]] = [
    ("aipp_mode", str, dataclasses.MISSING, None, "static | dynamic"),
    ("related_input_rank", int, 0, (0, None), "which model input (0-based) gets this AIPP"),
    ("max_src_image_size", int, 0, (0, None), "dynamic AIPP: bytes of the largest image"),
    ("support_rotation", bool, False, None, "reserved"),
    ("input_format", str, None, None, "YUV420SP_U8 | XRGB8888_U8 | RGB888_U8 | YUV400_U8"),
    ("src_image_size_w", int, 0, (0, 4096), "width of the image fed; 0 = the model input's"),
    ("src_image_size_h", int, 0, (0, 4096), "height of the image fed; 0 = the model input's"),
    ("crop", bool, False, None, ""),
    ("load_start_pos_w", int, 0, (0, 4095), "crop start column"),
    ("load_start_pos_h", int, 0, (0, 4095), "crop start row"),
    ("crop_size_w", int, 0, (0, 4096), ""),
    ("crop_size_h", int, 0, (0, 4096), ""),
    ("resize", bool, False, None, "reserved: not supported in static AIPP"),
    ("resize_output_w", int, 0, (0, 1920), "reserved"),
    ("resize_output_h", int, 0, (0, 4096), "reserved"),
    ("padding", bool, False, None, ""),
    ("left_padding_size", int, 0, (0, MAX_PADDING), ""),
    ("right_padding_size", int, 0, (0, MAX_PADDING), ""),
    ("top_padding_size", int, 0, (0, MAX_PADDING), ""),
    ("bottom_padding_size", int, 0, (0, MAX_PADDING), ""),
    ("padding_value", float, 0.0, None, "value written into the padded area (after DTC)"),
    ("rotation_angle", int, 0, (0, 3), "reserved, never applied"),
    ("csc_switch", bool, False, None, "colour-space conversion with the matrix below"),
    ("rbuv_swap_switch", bool, False, None, "swap R<->B or U<->V, before CSC"),
    ("ax_swap_switch", bool, False, None, "XRGB -> RGB (drop the leading byte)"),
    ("single_line_mode", bool, False, None, "reserved"),
] + [("matrix_r{}c{}".format(r, c), int, v, _INT16, "CSC matrix, Q8")
     for (r, c), v in zip([(r, c) for r in range(3) for c in range(3)], [298, 516, 0, 298, -100, -208, 298, 0, 409])
     ] + [("output_bias_{}".format(i), int, v, (0, 255), "added after the matrix (RGB->YUV)")
          for i, v in enumerate((16, 128, 128))
          ] + [("input_bias_{}".format(i), int, v, (0, 255), "subtracted before the matrix (YUV->RGB)")
               for i, v in enumerate((16, 128, 128))
               ] + [("mean_chn_{}".format(i), int, 0, (0, 255), "uint8 mean") for i in range(4)
                    ] + [("min_chn_{}".format(i), float, 0.0, (0, 255), "float16 minimum") for i in range(4)
                         ] + [("var_reci_chn_{}".format(i), float, 1.0, (-65504, 65504), "float16 1/std")
                              for i in range(4)]

# CSC matrices and biases (docs/reference.md [aipp]"Standard CSC configs"), rows = output channels
YUV_TO_RGB: Dict[str, Tuple[Tuple[Tuple[int, int, int], ...], Tuple[int, int, int]]] = {
    "bt601_wide": (((256, 0, 359), (256, -88, -183), (256, 454, 0)), (0, 128, 128)),   # = JPEG
    "bt601_narrow": (((298, 0, 409), (298, -100, -208), (298, 516, 0)), (16, 128, 128)),
    "bt709_narrow": (((298, 0, 459), (298, -55, -136), (298, 541, 0)), (16, 128, 128)),
    "bt709_wide": (((256, 0, 403), (256, -48, -120), (256, 475, 0)), (0, 128, 128)),
}
RGB_TO_YUV: Dict[str, Tuple[Tuple[Tuple[int, int, int], ...], Tuple[int, int, int]]] = {
    "bt601_wide": (((77, 150, 29), (-43, -85, 128), (128, -107, -21)), (0, 128, 128)),
    "bt601_narrow": (((66, 129, 25), (-38, -74, 112), (112, -94, -18)), (16, 128, 128)),
    "bt709_narrow": (((47, 157, 16), (-26, -87, 112), (112, -102, -10)), (16, 128, 128)),
    "bt709_wide": (((55, 183, 19), (-29, -99, 128), (128, -116, -12)), (0, 128, 128)),
}
YUV_TO_GRAY = (((256, 0, 0), (0, 0, 0), (0, 0, 0)), (0, 0, 0))
RGB_TO_GRAY = (((76, 150, 30), (0, 0, 0), (0, 0, 0)), (0, 0, 0))


def _field(name: str, tp: type, default: Any, bounds: Optional[Tuple[Any, Any]], doc: str) -> Tuple[str, type, Any]:
    meta: Dict[str, Any] = {"doc": doc}
    if bounds is not None:
        meta["range"] = bounds
    tp_hint: Any = Optional[str] if default is None else tp
    return (name, tp_hint, dataclasses.field(default=default, metadata=meta))


_AippFields = dataclasses.make_dataclass("_AippFields", [_field(*row) for row in FIELDS])
FIELD_TYPES = {row[0]: row[1] for row in FIELDS}
DEFAULTS = {row[0]: row[2] for row in FIELDS if row[2] is not dataclasses.MISSING}


class AippConfig(_AippFields):  # type: ignore[misc, valid-type]
    """One `aipp_op` block. Build with keyword arguments, `parse_aipp(text)` or the builders below."""

    def validate(self) -> List[str]:
        return self.problems()

    def problems(self, model_hw: Optional[Tuple[int, int]] = None) -> List[str]:
        """Cross-field rules; with model_hw also 'the output size equals the model input'."""
        p: List[str] = []
        if self.aipp_mode not in ("static", "dynamic"):
            p.append("aipp_mode: expected static or dynamic, got {!r}{}".format(
                self.aipp_mode, did_you_mean(self.aipp_mode, ("static", "dynamic"))))
        if self.aipp_mode == "dynamic":
            if self.max_src_image_size <= 0:
                p.append("max_src_image_size: dynamic AIPP needs the largest image's byte size, got 0")
            return p
        fmt = self.input_format
        if fmt is None:
            p.append("input_format: static AIPP needs one of {}".format(one_of(INPUT_FORMATS)))
            return p
        if fmt in RESERVED_INPUT_FORMATS:
            p.append("input_format: {} is reserved, AIPP does not support it; use one of {}".format(
                fmt, one_of(INPUT_FORMATS)))
            return p
        if fmt not in INPUT_FORMATS:
            p.append("input_format: expected one of {}, got {!r}{}".format(one_of(INPUT_FORMATS), fmt,
                                                                           did_you_mean(fmt, INPUT_FORMATS)))
            return p
        w, h = self.src_image_size_w, self.src_image_size_h
        if w == 1:
            p.append("src_image_size_w: expected 0 or a width in [2, 4096], got 1")
        if (w == 0 or h == 0) and (self.crop or self.padding):
            p.append("src_image_size_w/src_image_size_h: 0 (= the model input size) only works with crop and "
                     "padding off; set the size of the image fed")
        if self.resize:
            p.append("resize: not supported in static AIPP; resize on the host (or DVPP) before the model")
        if self.crop:
            for axis, size in (("w", w), ("h", h)):
                start, length = getattr(self, "load_start_pos_" + axis), getattr(self, "crop_size_" + axis)
                if size and start >= size:
                    p.append("load_start_pos_{}: {} is outside the {}-pixel source".format(axis, start, size))
                elif size and start + length > size:
                    p.append("crop_size_{0}: load_start_pos_{0} + crop_size_{0} = {1} exceeds src_image_size_{0} "
                             "= {2}".format(axis, start + length, size))
                if length == 0 and self.padding:
                    p.append("crop_size_{}: 0 (= the model input size) only works with padding off".format(axis))
        if fmt == "YUV420SP_U8":
            for name in ("src_image_size_w", "src_image_size_h") + (
                    ("load_start_pos_w", "load_start_pos_h", "crop_size_w", "crop_size_h") if self.crop else ()):
                if getattr(self, name) % 2:
                    p.append("{}: YUV420SP_U8 needs even sizes and positions, got {}".format(
                        name, getattr(self, name)))
        if self.csc_switch and fmt == "YUV400_U8":
            p.append("csc_switch: YUV400_U8 has one channel; the colour-space conversion needs three")
        if model_hw is not None:
            out = self.output_hw(model_hw)
            if tuple(out) != tuple(model_hw):
                p.append("output size: after crop and padding AIPP gives {}x{} (h x w) but the model input is "
                         "{}x{}; crop_size + padding must equal it".format(out[0], out[1], *model_hw))
        return p

    # ---- geometry -------------------------------------------------------------------------------------
    def source_hw(self, model_hw: Optional[Tuple[int, int]] = None) -> Tuple[int, int]:
        h, w = self.src_image_size_h, self.src_image_size_w
        if (h == 0 or w == 0) and model_hw is None:
            raise UserError("src_image_size is 0 (= the model input size) and the model size is not known",
                            hint="set src_image_size_w/_h, or pass the model's (h, w)")
        return (h or model_hw[0], w or model_hw[1])  # type: ignore[index]

    def crop_box(self, source_hw: Tuple[int, int]) -> Tuple[int, int, int, int]:
        """(top, left, height, width) of the region kept by the crop stage."""
        if not self.crop:
            return 0, 0, source_hw[0], source_hw[1]
        return (self.load_start_pos_h, self.load_start_pos_w,
                self.crop_size_h or source_hw[0], self.crop_size_w or source_hw[1])

    def paddings(self) -> Tuple[int, int, int, int]:
        """(top, bottom, left, right)."""
        if not self.padding:
            return 0, 0, 0, 0
        return self.top_padding_size, self.bottom_padding_size, self.left_padding_size, self.right_padding_size

    def output_hw(self, model_hw: Optional[Tuple[int, int]] = None) -> Tuple[int, int]:
        _, _, h, w = self.crop_box(self.source_hw(model_hw))
        top, bottom, left, right = self.paddings()
        return h + top + bottom, w + left + right

    def matrix(self) -> np.ndarray:
        return np.array([[getattr(self, "matrix_r{}c{}".format(r, c)) for c in range(3)] for r in range(3)],
                        dtype=np.int32)

    def to_dict(self) -> Dict[str, Any]:
        """The fields that differ from AIPP's defaults (plus the mode and format), in template order."""
        return {name: getattr(self, name) for name in FIELD_TYPES
                if name in ("aipp_mode", "input_format", "related_input_rank")
                or getattr(self, name) != DEFAULTS.get(name)}


def make_config(source: str = "aipp config", **fields: Any) -> AippConfig:
    """An AippConfig from keyword fields, checked like a parsed file (every problem in one SchemaError)."""
    return from_dict(AippConfig, fields, source)


def check(config: AippConfig, model_hw: Optional[Tuple[int, int]] = None, where: str = "aipp config") -> None:
    problems = config.problems(model_hw)
    if problems:
        raise SchemaError(problems, where)


# ---------------------------------------------------------------------------------------------------
# the aipp_op text format (protobuf text, one block per AIPP input, '#' comments)

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}:]|[^\s{}:"#]+')
_COMMENT = re.compile(r"#[^\n]*")


def _tokens(text: str) -> List[Tuple[str, int]]:
    text = _COMMENT.sub(lambda m: " " * len(m.group(0)), text)
    return [(m.group(0), text.count("\n", 0, m.start()) + 1) for m in _TOKEN.finditer(text)]


class _Tokens:
    """A cursor over (token, line) pairs that raises one-line errors naming the file and line."""

    def __init__(self, text: str, source: str):
        self.items, self.source, self.at = _tokens(text), source, 0

    def more(self) -> bool:
        return self.at < len(self.items)

    def peek(self) -> str:
        return self.items[self.at][0] if self.more() else ""

    def fail(self, message: str, hint: Optional[str] = None) -> UserError:
        line = self.items[min(self.at, len(self.items) - 1)][1] if self.items else 1
        return UserError("{}: line {}: {}".format(self.source, line, message), hint=hint)

    def take(self, want: Optional[str] = None) -> str:
        got = self.peek() if self.more() else "end of file"
        if want is not None and got != want:
            raise self.fail("expected '{}', got '{}'".format(want, got),
                            hint="the file holds blocks like: aipp_op { aipp_mode: static ... }")
        self.at += 1
        return got


def _value(tokens: _Tokens, key: str) -> Any:
    tp = FIELD_TYPES[key]
    raw = tokens.peek()
    text = raw[1:-1] if raw.startswith('"') else raw
    try:
        if tp is bool and text.lower() in ("true", "false", "1", "0"):
            value: Any = text.lower() in ("true", "1")
        elif tp is bool:
            raise ValueError
        else:
            value = tp(text)
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}[tp]
        raise tokens.fail("{}: expected {}, got {!r}".format(key, kind, raw)) from None
    tokens.take()
    return value


def _block(tokens: _Tokens) -> Dict[str, Any]:
    if tokens.peek() != "aipp_op":
        raise tokens.fail("expected 'aipp_op {{', got '{}'".format(tokens.peek()))
    tokens.take()
    if tokens.peek() == ":":
        tokens.take()
    tokens.take("{")
    block: Dict[str, Any] = {}
    while tokens.more() and tokens.peek() != "}":
        key = tokens.peek()
        if key not in FIELD_TYPES:
            raise tokens.fail("unknown AIPP field '{}'{}".format(key, did_you_mean(key, FIELD_TYPES)))
        if key in block:
            raise tokens.fail("{} is set twice in one aipp_op".format(key))
        tokens.take()
        tokens.take(":")
        block[key] = _value(tokens, key)
    tokens.take("}")
    return block


def parse_aipp(text: str, source: str = "aipp config") -> List[AippConfig]:
    """Every `aipp_op { ... }` block of an AIPP config file, typed and checked."""
    tokens = _Tokens(text, source)
    blocks = []
    while tokens.more():
        blocks.append(_block(tokens))
    if not blocks:
        raise UserError("{}: no aipp_op block found".format(source))
    configs = [from_dict(AippConfig, b, "{} aipp_op #{}".format(source, n + 1)) for n, b in enumerate(blocks)]
    ranks = [c.related_input_rank for c in configs]
    if len(set(ranks)) != len(ranks):
        raise UserError("{}: two aipp_op blocks have the same related_input_rank {}".format(source, ranks))
    return configs


def read_aipp_file(path: Union[str, "os.PathLike[str]"], option: str = "atc.insert_op_conf") -> List[AippConfig]:
    """parse_aipp of a file, with a one-line error naming `option` when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError("{} {} cannot be read: {}".format(option, path, getattr(exc, "strerror", None) or exc)) \
            from None
    return parse_aipp(text, str(path))


def configs_by_input(configs: Sequence[AippConfig], input_names: Sequence[str],
                     source: str = "aipp config") -> Dict[str, AippConfig]:
    """input name -> its AIPP config, by related_input_rank over the model's inputs in order (as ATC maps it);
    a rank past the last input is an error, not a block silently dropped."""
    out = {}
    for config in configs:
        if config.related_input_rank >= len(input_names):
            raise UserError("{}: related_input_rank {} but the model has {} input(s): {}".format(
                source, config.related_input_rank, len(input_names), one_of(input_names)))
        out[input_names[config.related_input_rank]] = config
    return out


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_aipp(configs: Union[AippConfig, Sequence[AippConfig]], header: Optional[str] = None) -> str:
    """The aipp_op text ATC reads; fields at their default are left out."""
    if isinstance(configs, AippConfig):
        configs = [configs]
    lines = ["# " + line for line in (header or "").splitlines()]
    for config in configs:
        lines.append("aipp_op {")
        lines.extend("    {}: {}".format(k, _format_value(v)) for k, v in config.to_dict().items() if v is not None)
        lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------
# emulation


def _as_batch(config: AippConfig, image: np.ndarray) -> Tuple[np.ndarray, bool]:
    """(N, H, W, C) for packed formats, (N, rows, W) for YUV planes; and whether a batch was given."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise UserError("AIPP takes uint8 images, got {}".format(image.dtype),
                        hint="feed the raw pixels; AIPP does the normalisation")
    fmt = config.input_format
    if fmt in ("YUV420SP_U8", "YUV400_U8"):
        if image.ndim >= 3 and image.shape[-1] == 1:
            image = image[..., 0]
        if image.ndim not in (2, 3):
            raise UserError("{} takes (rows, W) or (N, rows, W) planes, got shape {}".format(fmt, image.shape))
        return (image[None], False) if image.ndim == 2 else (image, True)
    channels = 4 if fmt == "XRGB8888_U8" else 3
    if image.ndim not in (3, 4) or image.shape[-1] != channels:
        raise UserError("{} takes (H, W, {c}) or (N, H, W, {c}) images, got shape {s}".format(
            fmt, c=channels, s=image.shape))
    return (image[None], False) if image.ndim == 3 else (image, True)


def _channels(config: AippConfig, batch: np.ndarray) -> np.ndarray:
    """The (N, H, W, C) int32 pixels entering the crop stage, after the channel swaps."""
    fmt = config.input_format
    if fmt == "YUV420SP_U8":
        rows = batch.shape[1]
        if rows % 3 or batch.shape[2] % 2:
            raise UserError("YUV420SP_U8 planes have H*3/2 rows and an even width, got {}".format(batch.shape[1:]))
        h = rows * 2 // 3
        y = batch[:, :h].astype(np.int32)
        uv = batch[:, h:].reshape(batch.shape[0], h // 2, batch.shape[2] // 2, 2).astype(np.int32)
        if config.rbuv_swap_switch:
            uv = uv[..., ::-1]
        uv = uv.repeat(2, axis=1).repeat(2, axis=2)  # each chroma sample covers a 2x2 block
        return np.concatenate([y[..., None], uv], axis=-1)
    if fmt == "YUV400_U8":
        return batch[..., None].astype(np.int32)
    pixels = batch.astype(np.int32)
    if fmt == "XRGB8888_U8":
        # ax_swap moves the leading byte out (XRGB -> RGBX); without it the first three bytes are taken
        pixels = pixels[..., 1:4] if config.ax_swap_switch else pixels[..., 0:3]
    if config.rbuv_swap_switch:
        pixels = pixels[..., ::-1]
    return pixels


def _csc(config: AippConfig, pixels: np.ndarray) -> np.ndarray:
    matrix = config.matrix()
    if config.input_format == "YUV420SP_U8":
        bias = np.array([config.input_bias_0, config.input_bias_1, config.input_bias_2], np.int32)
        out = np.einsum("nhwj,ij->nhwi", pixels - bias, matrix) >> 8
    else:
        bias = np.array([config.output_bias_0, config.output_bias_1, config.output_bias_2], np.int32)
        out = (np.einsum("nhwj,ij->nhwi", pixels, matrix) >> 8) + bias
    return np.clip(out, 0, 255)


def _dtc(config: AippConfig, pixels: np.ndarray) -> np.ndarray:
    channels = pixels.shape[-1]
    mean = np.array([getattr(config, "mean_chn_{}".format(c)) for c in range(channels)], np.int32)
    minimum = np.array([getattr(config, "min_chn_{}".format(c)) for c in range(channels)], np.float16)
    scale = np.array([getattr(config, "var_reci_chn_{}".format(c)) for c in range(channels)], np.float16)
    centred = (pixels - mean).astype(np.float16)  # exact: |x| <= 255
    return (centred - minimum) * scale  # float16 arithmetic, rounded at each step


def emulate(config: AippConfig, image: np.ndarray, output_dtype: Union[str, np.dtype] = "float16",
            model_hw: Optional[Tuple[int, int]] = None, channels: Optional[int] = None) -> np.ndarray:
    """What static AIPP hands the network for `image`: (C, H, W), or (N, C, H, W) for a batch.

    image: RGB888_U8 / XRGB8888_U8 as (H, W, C) uint8; YUV420SP_U8 as (H*3/2, W) NV12/NV21 planes;
    YUV400_U8 as (H, W). output_dtype float16 applies DTC (mean/min/var_reci); uint8 bypasses it.
    channels: the model input's channel count; the network reads only its first channels of AIPP's output
    (a 1-channel model gets channel 0, the luma of the GRAY matrices). None: every channel AIPP writes.
    """
    if config.aipp_mode != "static":
        raise UserError("emulate runs static AIPP; dynamic AIPP is configured at run time "
                        "(aclmdlSetInputAIPP), not in the file")
    check(config, model_hw)
    batch, batched = _as_batch(config, image)
    pixels = _channels(config, batch)
    src_h, src_w = config.source_hw(model_hw or (pixels.shape[1], pixels.shape[2]))
    if (src_h, src_w) != pixels.shape[1:3]:
        raise UserError("the AIPP config takes {}x{} (h x w) {} images, got {}x{}".format(
            src_h, src_w, config.input_format, *pixels.shape[1:3]),
            hint="src_image_size_w/_h must match the images fed to the model")
    top, left, h, w = config.crop_box((src_h, src_w))
    pixels = pixels[:, top:top + h, left:left + w]
    if config.csc_switch:
        pixels = _csc(config, pixels)
    if channels is not None:
        if channels > pixels.shape[-1]:
            raise UserError("the AIPP config gives {} channel(s) ({}) but the model input takes {}".format(
                pixels.shape[-1], config.input_format, channels),
                hint="feed a format with the model's channels, or convert on the host")
        pixels = pixels[..., :channels]
    dtype = np.dtype(output_dtype)
    if dtype == np.uint8:
        out = pixels.astype(np.uint8)
    elif dtype == np.float16:
        out = _dtc(config, pixels)
    else:
        raise UserError("AIPP writes float16 (with DTC) or uint8, not {}".format(dtype))
    pad_top, pad_bottom, pad_left, pad_right = config.paddings()
    if any((pad_top, pad_bottom, pad_left, pad_right)):
        out = np.pad(out, ((0, 0), (pad_top, pad_bottom), (pad_left, pad_right), (0, 0)),
                     constant_values=np.array(config.padding_value).astype(dtype))
    out = np.ascontiguousarray(out.transpose(0, 3, 1, 2))
    return out if batched else out[0]


def device_input_shape(config: AippConfig, model_shape: Sequence[Any], layout: str = "NCHW") -> List[Any]:
    """The NHWC uint8 shape the .om takes for an AIPP input; YUV420SP as (N, H*3/2, W, 1) planes."""
    from .contract import hw_axes

    h_axis, w_axis = hw_axes(layout) or (1, 2)  # not NCHW: the NHWC image the device takes
    model_hw = (model_shape[h_axis], model_shape[w_axis])
    if config.src_image_size_h and config.src_image_size_w:
        h, w = config.src_image_size_h, config.src_image_size_w
    else:
        h, w = model_hw
    fmt = config.input_format
    if fmt == "YUV420SP_U8":
        return [model_shape[0], h * 3 // 2 if isinstance(h, int) and h > 0 else h, w, 1]  # -1: a dynamic H stays -1
    return [model_shape[0], h, w, {"XRGB8888_U8": 4, "YUV400_U8": 1}.get(fmt or "", 3)]


# ---------------------------------------------------------------------------------------------------
# builders


def _colour_fields(device_format: str, model_color: str, yuv_matrix: str) -> Dict[str, Any]:
    """input_format, swaps and CSC for feeding `device_format` pixels to a model expecting `model_color`."""
    def matrix_fields(table: Tuple[Tuple[Tuple[int, int, int], ...], Tuple[int, int, int]], bias: str,
                      bgr: bool = False) -> Dict[str, Any]:
        rows, biases = table
        rows = rows[::-1] if bgr else rows  # YUV->BGR: the RGB matrix with rows 0 and 2 swapped
        fields: Dict[str, Any] = {"csc_switch": True}
        fields.update({"matrix_r{}c{}".format(r, c): rows[r][c] for r in range(3) for c in range(3)})
        fields.update({"{}_bias_{}".format(bias, i): b for i, b in enumerate(biases)})
        return fields

    if device_format == "gray":
        if model_color != "gray":
            raise UserError("AIPP cannot make {} from a one-channel (gray) image".format(model_color.upper()),
                            hint="feed rgb/bgr/nv12 images, or convert on the host")
        return {"input_format": "YUV400_U8"}
    if device_format in ("nv12", "nv21"):
        fields = {"input_format": "YUV420SP_U8", "rbuv_swap_switch": device_format == "nv21"}
        if model_color == "gray":
            fields.update(matrix_fields(YUV_TO_GRAY, "input"))
        else:
            fields.update(matrix_fields(YUV_TO_RGB[yuv_matrix], "input", bgr=model_color == "bgr"))
        return fields
    packed_order = device_format[-3:]  # rgb / bgr, also for xrgb / xbgr
    fields = {"input_format": "XRGB8888_U8" if device_format.startswith("x") else "RGB888_U8",
              "ax_swap_switch": device_format.startswith("x")}
    if model_color == "gray":
        fields["rbuv_swap_switch"] = packed_order == "bgr"
        fields.update(matrix_fields(RGB_TO_GRAY, "output"))
    else:
        fields["rbuv_swap_switch"] = packed_order != model_color
    return fields


def _normalisation_fields(mean: Sequence[float], std: Sequence[float], channels: int) -> Dict[str, Any]:
    """mean split into the uint8 mean_chn and the fractional float16 min_chn, so fp16 rounds only the
    fraction; var_reci = 1/std."""
    for what, values in (("mean", mean), ("std", std)):
        if len(values) not in (1, channels):
            raise UserError("{}: expected {} (one per channel), got {}".format(
                what, "1 value" if channels == 1 else "1 or {} values".format(channels), len(values)))
    if not all(v > 0 for v in std):
        raise UserError("std: expected values > 0 (var_reci_chn = 1/std), got {}".format(
            ",".join("{:g}".format(v) for v in std)), hint="use std 1 for 'no scaling'")
    mean = list(mean) * channels if len(mean) == 1 else list(mean)
    std = list(std) * channels if len(std) == 1 else list(std)
    fields: Dict[str, Any] = {}
    for c in range(channels):
        if not 0 <= mean[c] <= 255:
            raise UserError("mean[{}] = {} is outside AIPP's [0, 255] (mean_chn is uint8)".format(c, mean[c]),
                            hint="give mean/std in pixel units (0-255), or keep preprocessing on the host")
        whole = int(np.floor(mean[c]))
        fields["mean_chn_{}".format(c)] = whole
        fields["min_chn_{}".format(c)] = float(mean[c] - whole)
        fields["var_reci_chn_{}".format(c)] = 1.0 / float(std[c])
    return fields


def _geometry_fields(model_hw: Tuple[int, int], device_hw: Tuple[int, int], even: bool) -> Dict[str, Any]:
    """Smaller images are padded right/bottom, larger ones centre-cropped (each at most once, <= 32 px)."""
    (mh, mw), (dh, dw) = model_hw, device_hw
    fields: Dict[str, Any] = {"src_image_size_h": dh, "src_image_size_w": dw}
    if (dh, dw) == (mh, mw):
        return fields
    crop_h, crop_w = min(dh, mh), min(dw, mw)
    if (crop_h, crop_w) != (dh, dw):
        top, left = (dh - crop_h) // 2, (dw - crop_w) // 2
        if even:
            top, left = top - top % 2, left - left % 2
        fields.update(crop=True, load_start_pos_h=top, load_start_pos_w=left, crop_size_h=crop_h, crop_size_w=crop_w)
    pad_h, pad_w = mh - crop_h, mw - crop_w
    if pad_h > MAX_PADDING or pad_w > MAX_PADDING:
        raise UserError("the image ({}x{}) is {} px smaller than the model input ({}x{}); AIPP pads at most {} "
                        "px per side (bottom_padding_size / right_padding_size)".format(
                            dh, dw, max(pad_h, pad_w), mh, mw, MAX_PADDING),
                        hint="resize on the host to within 32 px of the model input")
    if pad_h or pad_w:
        fields.update(padding=True, bottom_padding_size=pad_h, right_padding_size=pad_w)
    return fields


def aipp_for(model_hw: Tuple[int, int], model_color: str = "rgb", device_format: str = "rgb",
             device_hw: Optional[Tuple[int, int]] = None, mean: Sequence[float] = (0.0,),
             std: Sequence[float] = (1.0,), pad_value: float = 0.0, yuv_matrix: str = "bt601_narrow",
             related_input_rank: int = 0) -> AippConfig:
    """The static AIPP config for an intent, e.g. aipp_for((640, 640), "rgb", "bgr", (624, 640), std=[255])
    for "the model wants RGB in [0, 1] at 640x640; the application feeds BGR uint8 640 wide, 624 high".

    pad_value is in pixel units, like mean; AIPP pads after normalising, with one value for all channels.
    """
    if yuv_matrix not in YUV_TO_RGB:
        raise UserError("yuv_matrix: expected one of {}, got {!r}{}".format(
            one_of(list(YUV_TO_RGB)), yuv_matrix, did_you_mean(yuv_matrix, YUV_TO_RGB)))
    fields: Dict[str, Any] = {"aipp_mode": "static", "related_input_rank": related_input_rank}
    fields.update(_colour_fields(device_format, model_color, yuv_matrix))
    channels = 1 if model_color == "gray" else 3
    fields.update(_normalisation_fields(mean, std, channels))
    device_hw = (device_hw or model_hw)[0], (device_hw or model_hw)[1]
    fields.update(_geometry_fields((model_hw[0], model_hw[1]), device_hw, fields["input_format"] == "YUV420SP_U8"))
    if fields.get("padding"):
        means = {fields["mean_chn_{}".format(c)] + fields["min_chn_{}".format(c)] for c in range(channels)}
        scales = {fields["var_reci_chn_{}".format(c)] for c in range(channels)}
        if len(means) > 1 or len(scales) > 1:
            raise UserError("AIPP pads with one value for all channels, but mean/std differ per channel, so "
                            "pad_value {} normalises to a different value in each".format(pad_value),
                            hint="feed images of the model's size, or pad on the host")
        fields["padding_value"] = float((pad_value - means.pop()) * scales.pop())
    config = make_config("AIPP for {}x{} {} from {}".format(model_hw[0], model_hw[1], model_color, device_format),
                         **fields)
    check(config, tuple(model_hw))  # type: ignore[arg-type]
    return config


def aipp_from_spec(spec: Any, input_name: str) -> AippConfig:
    """The AIPP block for `input_name` of a DeploySpec whose preprocess runs in AIPP (where: aipp)."""
    pre = spec.preprocess
    if pre is None or pre.where not in ("aipp", "dvpp"):  # dvpp feeds an AIPP too
        raise UserError("spec preprocess.where is not 'aipp', so the model has no AIPP",
                        hint="set preprocess: {where: aipp, ...} in the spec")
    names = [i.name for i in spec.inputs]
    if input_name not in names:
        raise UserError("spec has no input {!r}; its inputs are: {}".format(input_name, one_of(names)))
    item = spec.inputs[names.index(input_name)]
    if len(item.shape) != 4 or item.layout not in ("NCHW", "NHWC"):
        raise UserError("input {!r}: AIPP feeds 4-D NCHW/NHWC image inputs, got {} {}".format(
            input_name, item.layout, item.shape), hint="AIPP needs --input_format NCHW or NHWC")
    from .contract import hw_axes

    h_axis, w_axis = hw_axes(item.layout) or (2, 3)
    model_hw = (item.shape[h_axis], item.shape[w_axis])
    dynamic_hw = spec.dynamic is not None and spec.dynamic.mode == "image_size"
    if not dynamic_hw and not all(isinstance(d, int) and d > 0 for d in model_hw):
        raise UserError("input {!r}: AIPP needs a fixed H and W, got {}".format(input_name, item.shape),
                        hint="give the input's shape in the spec, or use dynamic image_size gears")
    device_format = pre.device_format or pre.color
    if dynamic_hw:
        # static AIPP with dynamic_image_size: crop and padding off, src_image_size 0 (docs/reference.md [aipp])
        if pre.device_size is not None:
            raise UserError("preprocess.device_size cannot be combined with dynamic image_size gears: with "
                            "--dynamic_image_size AIPP's crop and padding are off")
        probe = aipp_for((2, 2), pre.color, device_format, None, pre.mean, pre.std, pre.pad_value,
                         pre.yuv_matrix, names.index(input_name))
        return dataclasses.replace(probe, src_image_size_h=0, src_image_size_w=0)
    device_hw = tuple(pre.device_size) if pre.device_size else None
    return aipp_for(model_hw, pre.color, device_format, device_hw, pre.mean, pre.std,
                    pre.pad_value, pre.yuv_matrix, names.index(input_name))


def aipp_inputs(spec: Any) -> List[str]:
    """The inputs a spec's AIPP feeds: every 4-D input when preprocess.where is aipp."""
    if spec.preprocess is None or spec.preprocess.where not in ("aipp", "dvpp"):
        return []
    return [i.name for i in spec.inputs if len(i.shape) == 4]


def aipp_text_for_spec(spec: Any) -> str:
    if spec.preprocess is None or spec.preprocess.where not in ("aipp", "dvpp"):
        raise UserError("the spec's preprocessing runs on the host (preprocess.where: {}), so it has no AIPP".format(
            spec.preprocess.where if spec.preprocess is not None else "host, the default"),
            hint="set preprocess: {where: aipp, ...} in the spec, or give --model-size and the rest instead of --spec")
    configs = [aipp_from_spec(spec, name) for name in aipp_inputs(spec)]
    if not configs:
        raise UserError("preprocess.where is aipp but no input has a 4-D shape to feed",
                        hint="declare the image input with its [n, c, h, w] shape in the spec's inputs")
    return write_aipp(configs, header="AIPP for {} (written by omdeploy from the DeploySpec)".format(spec.model))


__all__ = ["AippConfig", "FIELDS", "INPUT_FORMATS", "YUV_TO_RGB", "RGB_TO_YUV", "parse_aipp", "write_aipp",
           "emulate", "aipp_for", "aipp_from_spec", "aipp_inputs", "aipp_text_for_spec", "device_input_shape",
           "make_config", "check"]
