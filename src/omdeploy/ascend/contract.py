"""The device contract: what the application feeds the .om, per model input, derived once from a DeploySpec
and the model's real input list (ONNX graph inputs minus initializers, in ONNX order).

convert's sidecar and the simulator take it from here, so the two cannot disagree on which input gets which
AIPP block (`related_input_rank` counts over the ONNX input order, as ATC maps it), on the device dtype/layout/
shape, or on where H and W sit in a layout.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import UserError, one_of

Dim = Union[int, str]
# (name, dims, dtype name) of one model input
Source = Tuple[str, List[Dim], str]


def hw_axes(layout: str, shape: Optional[Sequence[Dim]] = None) -> Optional[Tuple[int, int]]:
    """(H axis, W axis) of an image input: NCHW (2, 3), NHWC (1, 2); None for the 5-D layouts.

    ND is decided here, once: ND says nothing about the data, so without a shape it has no image plane (None);
    with a shape it is NHWC when the shape looks channels-last (guess_layout), else the last two axes, which
    is ONNX's own NCHW and also right for rank-3 (N, H, W) inputs."""
    if layout in _HW_AXES:
        return _HW_AXES[layout]
    if layout != "ND" or shape is None or len(shape) < 2:
        return None
    from ..spec import guess_layout

    if guess_layout(shape) == "NHWC":
        return _HW_AXES["NHWC"]
    return len(shape) - 2, len(shape) - 1


_HW_AXES = {"NCHW": (2, 3), "NHWC": (1, 2)}
# the input ATC adds to an .om built with dynamic AIPP: the application passes each call's AIPP parameters
# through it (acl.mdl.set_input_aipp), found by this name (ACL_DYNAMIC_AIPP_NAME; docs/reference.md [aipp])
DYNAMIC_AIPP_INPUT = "ascend_dynamic_aipp_data"
# device formats fed as YUV420SP planes: (N, H*3/2, W, 1), the Y plane then interleaved chroma at half size
YUV420SP_FORMATS = ("nv12", "nv21")


def image_hw(shape: Sequence[Dim], layout: str, pixel_format: str = "rgb") -> Tuple[Optional[int], Optional[int]]:
    """(height, width) of the picture an input takes (None for a dynamic or unknown dim): for YUV420SP planes
    the picture is 2/3 of the rows (the inverse of aipp.device_input_shape)."""
    axes = hw_axes(layout, shape)
    if axes is None:
        return None, None
    dims = [shape[a] for a in axes]
    h: Optional[int] = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else None
    w: Optional[int] = dims[1] if isinstance(dims[1], int) and dims[1] > 0 else None
    if pixel_format in YUV420SP_FORMATS and h is not None:
        h = h * 2 // 3
    return h, w


def yuv420sp(rgb: Any, nv21: bool = False, yuv_matrix: str = "bt601_narrow") -> Any:
    """RGB uint8 (H, W, 3) -> NV12 (or NV21) planes (H*3/2, W, 1): the host-side conversion of a photo into the
    YUV420SP input an AIPP .om takes. The Y plane per pixel, chroma from the top-left pixel of each 2x2 block
    (as OpenCV's cvtColor RGB2YUV_I420 does, what applications on the box use), with AIPP's own RGB->YUV
    integer matrices (aipp.RGB_TO_YUV), so AIPP's YUV->RGB gives the photo back."""
    import numpy as np

    from .aipp import RGB_TO_YUV

    h, w = rgb.shape[:2]
    if rgb.ndim != 3 or rgb.shape[2] != 3 or h % 2 or w % 2:
        raise UserError("YUV420SP needs an RGB image with an even height and width, got shape {}".format(
            rgb.shape), hint="resize to even sizes (the AIPP input size of a YUV420SP .om is even)")
    rows, bias = RGB_TO_YUV[yuv_matrix]
    matrix, offset = np.array(rows, np.int32), np.array(bias, np.int32)
    pixels = rgb.astype(np.int32)
    y = ((pixels @ matrix[0] + 128) >> 8) + offset[0]
    uv = ((pixels[::2, ::2] @ matrix[1:].T + 128) >> 8) + offset[1:]
    if nv21:
        uv = uv[..., ::-1]
    planes = np.concatenate([y, uv.reshape(h // 2, w)], axis=0)
    return np.clip(planes, 0, 255).astype(np.uint8)[..., np.newaxis]


@dataclass
class InputContract:
    name: str
    device_shape: List[Dim]      # what the .om takes
    device_dtype: str
    device_layout: str
    model_shape: List[Dim]       # what the ONNX source takes (the spec's shape when it gives one)
    model_dtype: str
    model_layout: str
    aipp: Any = None             # omdeploy.ascend.aipp.AippConfig when AIPP feeds this input
    pixel_format: Optional[str] = None  # AIPP inputs: the pixels the application feeds (tasks.preprocess formats)

    @property
    def hw_axes(self) -> Optional[Tuple[int, int]]:
        return hw_axes(self.model_layout, self.model_shape)

    @property
    def model_hw(self) -> Tuple[Optional[int], Optional[int]]:
        """(height, width) of the picture the ONNX takes (None where dynamic or not an image)."""
        return image_hw(self.model_shape, self.model_layout)

    @property
    def picture_hw(self) -> Tuple[Optional[int], Optional[int]]:
        """(height, width) of the picture the application feeds the .om: AIPP's source size (src_image_size,
        0 = the model's), else the model's."""
        model_hw = self.model_hw
        if self.aipp is None:
            return model_hw
        return (self.aipp.src_image_size_h or model_hw[0], self.aipp.src_image_size_w or model_hw[1])

    @property
    def dynamic_aipp(self) -> bool:
        """True when the .om takes this input's AIPP parameters at run time (aipp_mode: dynamic)."""
        return self.aipp is not None and self.aipp.aipp_mode == "dynamic"

    def as_input_spec(self) -> Any:
        from ..spec import InputSpec

        return InputSpec(self.name, list(self.device_shape), self.device_dtype, self.device_layout)


def dynamic_aipp_refused(runtime: str) -> UserError:
    """The one refusal of a dynamic-AIPP model by a part of omdeploy that feeds static AIPP only."""
    return UserError("the model has dynamic AIPP (its added input '{}'): the application must set the AIPP "
                     "parameters for every call (acl.mdl.set_input_aipp), which {} does not do".format(
                         DYNAMIC_AIPP_INPUT, runtime),
                     hint="convert with static AIPP: preprocess.where: aipp in the spec, or an aipp_op with "
                          "aipp_mode: static (omdeploy aipp writes one)")


def aipp_by_input(spec: Any, input_names: Sequence[str]) -> Dict[str, Any]:
    """input name -> the AIPP config the .om applies to it: from atc.insert_op_conf (by
    related_input_rank over `input_names`, the ONNX order) or from preprocess.where: aipp."""
    from . import aipp

    conf = spec.atc.insert_op_conf
    if conf:
        path = Path(spec.base_dir) / conf
        return aipp.configs_by_input(aipp.read_aipp_file(path), list(input_names), str(path))
    return {name: aipp.aipp_from_spec(spec, name) for name in aipp.aipp_inputs(spec)}


def onnx_sources(model: Any) -> List[Source]:
    """The model's real inputs (graph inputs minus initializers) with their dims ('?' for an unnamed dynamic
    dim) and numpy dtype names, in ONNX order."""
    import numpy as np

    from .._optional import require

    from ..onnx.graph import real_inputs

    onnx = require("onnx", "reading the model's inputs")
    out: List[Source] = []
    for value in real_inputs(model.graph):
        tensor = value.type.tensor_type
        dims: List[Dim] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
        out.append((value.name, dims, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name))
    return out


def spec_sources(spec: Any) -> List[Source]:
    """The spec's own inputs as sources, for when the model cannot be read (no onnx, another format)."""
    return [(i.name, list(i.shape), i.dtype) for i in spec.inputs]


def pixel_format(config: Any, pre: Any = None) -> str:
    """The pixels the application feeds an AIPP input, from its config's input_format (and, for packed RGB,
    the spec's device_format/color: an insert_op_conf file does not say which order the model wants)."""
    fmt = config.input_format
    if fmt == "YUV420SP_U8":
        return "nv21" if config.rbuv_swap_switch else "nv12"
    if fmt == "YUV400_U8":
        return "gray"
    declared = (pre.device_format or pre.color) if pre is not None else None
    if fmt == "XRGB8888_U8":
        return declared if declared in ("xrgb", "xbgr") else "xrgb"
    return declared if declared in ("rgb", "bgr") else "rgb"


def aipp_formats(spec: Any) -> Dict[str, str]:
    """input name -> the pixel format the application feeds it, for the spec's AIPP inputs."""
    return {c.name: c.pixel_format for c in feeding_contract(spec) if c.pixel_format is not None}


def feeding_contract(spec: Any) -> List[InputContract]:
    """spec_contract for feeding a model that is already built (run, compare): when the contract cannot be
    derived here (e.g. the spec's insert_op_conf file was not copied next to the .om) the sidecar's inputs still
    say what the .om takes, so this warns once and gives no AIPP facts instead of failing."""
    try:
        return spec_contract(spec)
    except UserError as exc:
        from ..log import warning_once

        warning_once(("contract", str(spec.model)), "cannot derive the device contract of %s here (%s): feeding "
                     "images as RGB", spec.model, exc)
        return []


def described_input(shape: Sequence[Dim], dtype: Any, layout: str, declared: Any, nbytes: Optional[int] = None
                    ) -> Tuple[Tuple[Dim, ...], str]:
    """(shape, layout) the application feeds an input of a loaded .om: the runtime's model description, with
    the sidecar's contract entry (`declared`, an InputSpec) filling in what a description cannot say. An AIPP
    input takes its uint8 NHWC bytes whatever dims the description reports (when the byte size agrees, if
    known); an input described as ND keeps its dims and takes the declared layout. The acl and mindx backends
    both ask this."""
    import numpy as np

    shape = tuple(shape)
    if declared is None or np.dtype(declared.dtype) != np.dtype(dtype):
        return shape, layout
    static = all(isinstance(d, int) and d > 0 for d in declared.shape)
    if np.dtype(dtype) == np.uint8 and declared.layout == "NHWC" and static and (
            nbytes is None or int(np.prod(declared.shape)) == nbytes):
        return tuple(declared.shape), "NHWC"
    if layout == "ND" and declared.layout != "ND" and len(declared.shape) == len(shape):
        return shape, declared.layout
    return shape, layout


def spec_contract(spec: Any) -> List[InputContract]:
    """The device contract of a spec: over the ONNX model's real inputs when it can be read, else over the
    spec's own inputs."""
    path = spec.model_path
    if path.suffix.lower() == ".onnx" and path.is_file() and importlib.util.find_spec("onnx") is not None:
        import onnx

        return device_contract(spec, onnx_sources(onnx.load(str(path), load_external_data=False)))
    return device_contract(spec, spec_sources(spec))


def device_contract(spec: Any, sources: Sequence[Source]) -> List[InputContract]:
    """One InputContract per model input, in the model's order (see the module docstring)."""
    from ..spec import guess_layout
    from .aipp import device_input_shape

    declared = {i.name: i for i in spec.inputs}
    names = [name for name, _, _ in sources]
    unknown = [n for n in declared if n not in names]
    if unknown:
        raise UserError("spec input {!r} is not an input of {}; its inputs are: {}".format(
            unknown[0], spec.model, one_of(names)))
    configs = aipp_by_input(spec, names)
    out = []
    for name, dims, dtype in sources:
        item = declared.get(name)
        shape: List[Dim] = list(item.shape) if item is not None and item.shape else list(dims)
        layout = item.layout if item is not None else guess_layout(shape)
        config = configs.get(name)
        if config is not None and config.aipp_mode == "dynamic":
            # the picture's size and format are set per call: the .om takes up to max_src_image_size bytes
            out.append(InputContract(name, [config.max_src_image_size], "uint8", "ND", shape, dtype, layout, config))
        elif config is not None:
            out.append(InputContract(name, list(device_input_shape(config, shape, layout)), "uint8", "NHWC",
                                     shape, dtype, layout, config, pixel_format(config, spec.preprocess)))
        else:
            out.append(InputContract(name, list(shape), item.dtype if item is not None else dtype, layout,
                                     shape, dtype, layout))
    if any(c.dynamic_aipp for c in out):
        # its byte size is the runtime's to say (acl.mdl.get_aipp_data_size); it has no ONNX source
        out.append(InputContract(DYNAMIC_AIPP_INPUT, [-1], "uint8", "ND", [-1], "uint8", "ND"))
    return out


__all__ = ["InputContract", "device_contract", "aipp_by_input", "onnx_sources", "spec_sources", "hw_axes",
           "image_hw", "yuv420sp", "YUV420SP_FORMATS", "spec_contract", "pixel_format", "aipp_formats",
           "described_input", "feeding_contract", "DYNAMIC_AIPP_INPUT", "dynamic_aipp_refused"]
