"""The test double for an Ascend offline model, shared by the fake `acl` and fake `mindx.sdk` modules.

A real .om cannot be made without ATC, so tests write a small JSON manifest instead (`write_manifest`). It
names the ONNX source and the facts ATC would have baked in: which inputs became fp16
(--input_fp16_nodes), the output dtype (--output_type) and the compiled gears (--dynamic_batch_size,
--dynamic_image_size, --dynamic_dims). Only these fakes read it; it never claims to be an .om.
Outputs are computed by running the ONNX source with onnxruntime, so tests check real numbers.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

KIND = "omdeploy-test-double: a manifest read only by tests/fakes, not an Ascend offline model"
# the input name ATC gives the parameters of dynamic AIPP (ACL_DYNAMIC_AIPP_NAME in the AscendCL guide)
DYNAMIC_AIPP_INPUT = "ascend_dynamic_aipp_data"

# aclDataType codes from docs/reference.md [pyacl]kept independent of the package under test
ACL_DTYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.int8): 2,
                   np.dtype(np.int32): 3, np.dtype(np.uint8): 4, np.dtype(np.int16): 6,
                   np.dtype(np.uint16): 7, np.dtype(np.uint32): 8, np.dtype(np.int64): 9,
                   np.dtype(np.uint64): 10, np.dtype(np.float64): 11, np.dtype(np.bool_): 12}
ACL_FORMAT_CODES = {"NCHW": 0, "NHWC": 1, "ND": 2}
DYNAMIC_TENSOR_NAME = "ascend_mbatch_shape_data"
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def write_manifest(path, source, fp16_inputs: Sequence[str] = (), output_dtype: str = "float32",
                   dynamic: Optional[dict] = None, input_shape: Optional[Dict[str, List[int]]] = None,
                   input_format: str = "NCHW", aipp: Optional[dict] = None,
                   inputs: Optional[List[dict]] = None) -> Path:
    """dynamic: {"mode": "batch"|"image_size"|"dims", "gears": [...]}; input_shape: {name: dims with -1};
    aipp: {"file": AIPP config} makes the first input static AIPP's uint8 NHWC, computed by omdeploy's emulator
    (so a device-vs-emulator difference measured against this fake is 0 by construction).
    inputs: the model description as given, [{"name", "dims" (-1 = a gear dim), "dtype", "format", optional
    "size" (bytes, where the dims do not give it: the dynamic-AIPP parameter input)}], for a
    model whose inputs are not the source's (an AIPP input takes uint8 NHWC pixels); such inputs are described
    but not computed (the double does not emulate AIPP unless `aipp` is given)."""
    path = Path(path)
    path.write_text(json.dumps({
        "kind": KIND, "source": str(Path(source).resolve()), "fp16_inputs": list(fp16_inputs),
        "output_dtype": output_dtype, "dynamic": dynamic, "input_shape": input_shape or {},
        "input_format": input_format, "aipp": aipp, "inputs": inputs}, indent=2))
    return path


class Tensor:
    def __init__(self, name: str, dims: List[int], dtype: np.dtype, fmt: str, size: Optional[int] = None):
        self.name, self.dims, self.dtype, self.format = name, list(dims), np.dtype(dtype), fmt
        self.size = size  # the byte size the description reports, when the dims do not say it

    def nbytes(self, dims: Sequence[int]) -> int:
        return self.size if self.size is not None else int(np.prod(dims)) * self.dtype.itemsize


class FakeModel:
    """What the device would know about a loaded model, and how it computes."""

    def __init__(self, path: str):
        try:
            manifest = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            manifest = None
        if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
            raise ValueError("not a test manifest: " + str(path))
        import onnxruntime as ort

        self.session = ort.InferenceSession(manifest["source"], providers=["CPUExecutionProvider"])
        dynamic = manifest.get("dynamic") or {}
        self.mode: Optional[str] = dynamic.get("mode")
        self.gears = [tuple(g) if isinstance(g, list) else (g,) for g in dynamic.get("gears", [])]
        fmt = manifest.get("input_format", "NCHW")
        self.inputs = []
        for node in self.session.get_inputs():
            dims = manifest["input_shape"].get(node.name) or [d if isinstance(d, int) else -1 for d in node.shape]
            if self.mode != "dims":  # other dynamic dims are fixed, as ATC's --input_shape would
                dims = [1 if d == -1 else d for d in dims]
            if self.mode == "batch":
                dims = [-1] + dims[1:]
            elif self.mode == "image_size":
                dims = dims[:2] + [-1, -1]
            dtype = np.float16 if node.name in manifest["fp16_inputs"] else _ORT_TYPES[node.type]
            self.inputs.append(Tensor(node.name, dims, dtype, fmt))
        if manifest.get("inputs"):
            self.inputs = [Tensor(i["name"], i["dims"], np.dtype(i["dtype"]), i["format"], i.get("size"))
                           for i in manifest["inputs"]]
        self.source_dtypes = {n.name: np.dtype(_ORT_TYPES[n.type]) for n in self.session.get_inputs()}
        self.aipp = None
        if manifest.get("aipp"):
            from omdeploy.ascend.aipp import device_input_shape, read_aipp_file

            self.aipp = read_aipp_file(manifest["aipp"]["file"])[0]
            first = self.inputs[0]
            self.model_dims = list(first.dims)
            self.inputs[0] = Tensor(first.name, device_input_shape(self.aipp, first.dims), np.uint8, "NHWC")
        self.source_shapes = {n.name: n.shape for n in self.session.get_inputs()}
        self.output_dtype = np.dtype(manifest.get("output_dtype", "float32"))
        max_gear = max(self.gears, key=lambda g: int(np.prod(g))) if self.gears else ()
        self.max_input_dims = self.fill(max_gear) if self.gears else [t.dims for t in self.inputs]
        max_outputs = self.session.run(None, self._source_zeros(self.max_input_dims))
        self.outputs = [Tensor(n.name, list(v.shape), self.output_dtype, "ND")
                        for n, v in zip(self.session.get_outputs(), max_outputs)]

    # ---- gears ------------------------------------------------------------------------------------
    def fill(self, gear: Sequence[int]) -> List[List[int]]:
        """The full input dims for one gear (batch: one value; image_size: h, w; dims: one per -1)."""
        values = list(gear)
        out = []
        for t in self.inputs:
            dims = []
            for d in t.dims:
                if d != -1:
                    dims.append(d)
                elif self.mode == "batch":
                    dims.append(values[0])
                else:
                    dims.append(values.pop(0))
            if self.mode == "image_size":
                values = list(gear)
            out.append(dims)
        return out

    def gear_payload_size(self) -> int:
        return 8 * max(len(g) for g in self.gears) if self.gears else 0

    def full_dims_gears(self) -> List[List[int]]:
        return [[d for dims in self.fill(g) for d in dims] for g in self.gears]

    # ---- compute ----------------------------------------------------------------------------------
    def _zeros(self, dims_list):
        if self.aipp is not None:
            dims_list = [self.model_dims] + list(dims_list[1:])
        return {t.name: np.zeros(d, self.source_dtypes[t.name]) for t, d in zip(self.inputs, dims_list)}

    def _source_zeros(self, dims_list):
        """Zeros the source takes, at the described dims where they fit it (an AIPP input keeps the source's)."""
        feeds = {}
        for t, dims in zip(self.inputs, dims_list):
            if t.name == DYNAMIC_AIPP_INPUT:  # ATC's own input for dynamic AIPP parameters: not the source's
                continue
            own = self.source_shapes[t.name]
            fits = len(own) == len(dims) and all(not isinstance(o, int) or o == d for o, d in zip(own, dims))
            same_kind = t.dtype.kind == self.source_dtypes[t.name].kind  # fp16 for a float32 source is fine
            shape = dims if fits and same_kind else [o if isinstance(o, int) else 1 for o in own]
            feeds[t.name] = np.zeros(shape, self.source_dtypes[t.name])
        return feeds

    def compute(self, arrays: List[np.ndarray]) -> List[np.ndarray]:
        if any(t.name == DYNAMIC_AIPP_INPUT for t in self.inputs):
            raise RuntimeError("fake: a dynamic-AIPP model executed without AIPP parameters (acl.mdl.set_input_aipp "
                               "is not modelled by this fake)")
        if self.aipp is not None:
            from omdeploy.ascend.aipp import emulate

            arrays = [emulate(self.aipp, arrays[0], "float16")] + list(arrays[1:])
        feeds = {t.name: a.astype(self.source_dtypes[t.name]) for t, a in zip(self.inputs, arrays)}
        return [np.ascontiguousarray(o, dtype=self.output_dtype) for o in self.session.run(None, feeds)]
