"""acl.mdl: models, descriptions, datasets, dynamic gears, execution (fake).

The model "file" is the JSON manifest of tests/fakes/fake_om.py; execution runs its ONNX source with
onnxruntime on the bytes found in device memory, and writes the results back to device memory.
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

import fake_om

from ._device import (DEVICE, DYNAMIC_BATCH_SIZE_INVALID, INVALID_FILE, INVALID_MODEL_ID, INVALID_PARAM,
                      MODEL_DATA_SIZE_INVALID, MODEL_INPUT_NOT_MATCH, MODEL_NOT_DYNAMIC,
                      MODEL_OUTPUT_NOT_MATCH, OK, RT_PARAM_INVALID, INVALID_HANDLE, Dataset, LoadedModel)

# the docs forbid one model on two streams at once but name no code for it: the fake answers INVALID_PARAM
MODEL_EXECUTE_CONCURRENT = INVALID_PARAM

ACL_FORMAT_ND = 2
ACL_INT64 = 9


# ---- load / unload -------------------------------------------------------------------------------
def load_from_file(path: str):
    with DEVICE.lock:
        ready = DEVICE.ready()
        if ready:
            return 0, ready
        try:
            model = fake_om.FakeModel(path)
        except (OSError, ValueError):
            return 0, INVALID_FILE
        model_id = DEVICE.handle()
        DEVICE.models[model_id] = LoadedModel(model, DEVICE.context_here())
        DEVICE.stats["load"] += 1
        return model_id, OK


def unload(model_id: int) -> int:
    with DEVICE.lock:
        if DEVICE.models.pop(model_id, None) is None:
            return INVALID_MODEL_ID
        return OK


# ---- descriptions --------------------------------------------------------------------------------
def create_desc() -> int:
    desc = DEVICE.handle()
    DEVICE.descs[desc] = None
    return desc


def get_desc(desc: int, model_id: int) -> int:
    if desc not in DEVICE.descs:
        return INVALID_PARAM
    if model_id not in DEVICE.models:
        return INVALID_MODEL_ID
    DEVICE.descs[desc] = model_id
    return OK


def destroy_desc(desc: int) -> int:
    return OK if DEVICE.descs.pop(desc, 0) != 0 else INVALID_PARAM


def _model(desc: int) -> Optional[LoadedModel]:
    model_id = DEVICE.descs.get(desc)
    return DEVICE.models.get(model_id) if model_id is not None else None


def _inputs(loaded: LoadedModel):
    """The described inputs: the model's own, then the gear tensor when it has gears."""
    model = loaded.model
    tensors = [(t.name, t.dims, t.dtype, t.format, t.nbytes(d)) for t, d in zip(model.inputs, model.max_input_dims)]
    if model.gears:
        size = model.gear_payload_size()
        tensors.append((fake_om.DYNAMIC_TENSOR_NAME, [size // 8], np.dtype(np.int64), "ND", size))
    return tensors


def _outputs(loaded: LoadedModel):
    return [(t.name, t.dims, t.dtype, t.format, t.nbytes(t.dims)) for t in loaded.model.outputs]


def _get(desc: int, index: int, which, field: int):
    loaded = _model(desc)
    if loaded is None:
        return None
    tensors = which(loaded)
    return tensors[index][field] if 0 <= index < len(tensors) else None


def get_num_inputs(desc: int) -> int:
    loaded = _model(desc)
    return len(_inputs(loaded)) if loaded else 0


def get_num_outputs(desc: int) -> int:
    loaded = _model(desc)
    return len(_outputs(loaded)) if loaded else 0


def get_input_size_by_index(desc: int, index: int) -> int:
    return _get(desc, index, _inputs, 4) or 0


def get_output_size_by_index(desc: int, index: int) -> int:
    return _get(desc, index, _outputs, 4) or 0


def _dims(desc: int, index: int, which):
    name, dims = _get(desc, index, which, 0), _get(desc, index, which, 1)
    if name is None:
        return None, INVALID_PARAM
    return {"name": name, "dimCount": len(dims), "dims": list(dims)}, OK


def get_input_dims(desc: int, index: int):
    return _dims(desc, index, _inputs)


def get_output_dims(desc: int, index: int):
    return _dims(desc, index, _outputs)


def get_cur_output_dims(desc: int, index: int):
    loaded = _model(desc)
    if loaded is None or not 0 <= index < len(loaded.model.outputs):
        return None, INVALID_PARAM
    dims = loaded.cur_output_dims[index] if loaded.cur_output_dims else loaded.model.outputs[index].dims
    return {"name": loaded.model.outputs[index].name, "dimCount": len(dims), "dims": list(dims)}, OK


def get_input_data_type(desc: int, index: int) -> int:
    dtype = _get(desc, index, _inputs, 2)
    return fake_om.ACL_DTYPE_CODES[dtype] if dtype is not None else -1


def get_output_data_type(desc: int, index: int) -> int:
    dtype = _get(desc, index, _outputs, 2)
    return fake_om.ACL_DTYPE_CODES[dtype] if dtype is not None else -1


def get_input_format(desc: int, index: int) -> int:
    fmt = _get(desc, index, _inputs, 3)
    return fake_om.ACL_FORMAT_CODES.get(fmt, ACL_FORMAT_ND) if fmt else -1


def get_output_format(desc: int, index: int) -> int:
    fmt = _get(desc, index, _outputs, 3)
    return fake_om.ACL_FORMAT_CODES.get(fmt, ACL_FORMAT_ND) if fmt else -1


def get_input_name_by_index(desc: int, index: int) -> str:
    return _get(desc, index, _inputs, 0) or ""


def get_output_name_by_index(desc: int, index: int) -> str:
    return _get(desc, index, _outputs, 0) or ""


def get_input_index_by_name(desc: int, name: str):
    loaded = _model(desc)
    names = [t[0] for t in _inputs(loaded)] if loaded else []
    return (names.index(name), OK) if name in names else (0, INVALID_PARAM)


def get_dynamic_batch(desc: int):
    loaded = _model(desc)
    if loaded is None:
        return None, INVALID_PARAM
    batches = [g[0] for g in loaded.model.gears] if loaded.model.mode == "batch" else []
    return {"batchCount": len(batches), "batch": batches}, OK


def get_dynamic_hw(desc: int, index: int):
    loaded = _model(desc)
    if loaded is None:
        return None, INVALID_PARAM
    hws = [list(g) for g in loaded.model.gears] if loaded.model.mode == "image_size" else []
    return {"hwCount": len(hws), "hw": hws}, OK


def get_input_dynamic_gear_count(desc: int, index: int):
    loaded = _model(desc)
    if loaded is None:
        return 0, INVALID_PARAM
    return (len(loaded.model.gears) if loaded.model.mode == "dims" else 0), OK


def get_input_dynamic_dims(desc: int, index: int, gear_count: int):
    loaded = _model(desc)
    if loaded is None or loaded.model.mode != "dims" or gear_count != len(loaded.model.gears):
        return None, INVALID_PARAM
    return [{"name": "", "dimCount": len(d), "dims": d} for d in loaded.model.full_dims_gears()], OK


# ---- datasets ------------------------------------------------------------------------------------
def create_dataset() -> int:
    handle = DEVICE.handle()
    DEVICE.datasets[handle] = Dataset()
    return handle


def destroy_dataset(dataset: int) -> int:
    return OK if DEVICE.datasets.pop(dataset, None) is not None else INVALID_PARAM


def add_dataset_buffer(dataset: int, buffer: int):
    """Returns (dataset, ret), as pyACL does: code that treats the result as a ret breaks here."""
    if dataset not in DEVICE.datasets or buffer not in DEVICE.data_buffers:
        return dataset, INVALID_PARAM
    DEVICE.datasets[dataset].buffers.append(buffer)
    return dataset, OK


def get_dataset_num_buffers(dataset: int) -> int:
    ds = DEVICE.datasets.get(dataset)
    return len(ds.buffers) if ds else 0


def get_dataset_buffer(dataset: int, index: int) -> int:
    ds = DEVICE.datasets.get(dataset)
    return ds.buffers[index] if ds and 0 <= index < len(ds.buffers) else 0


# ---- gears ---------------------------------------------------------------------------------------
def _ready_model(model_id: int):
    """(the loaded model, 0), or (None, the error the runtime gives) for the calling thread."""
    ready = DEVICE.ready()
    if ready:
        return None, ready
    loaded = DEVICE.models.get(model_id)
    return (loaded, OK) if loaded is not None else (None, INVALID_MODEL_ID)


def _set_gear(model_id: int, dataset: int, index: int, mode: str, values) -> int:
    with DEVICE.lock:
        loaded, ret = _ready_model(model_id)
        if ret:
            return ret
        model = loaded.model
        if model.mode != mode:
            return MODEL_NOT_DYNAMIC
        names = [t[0] for t in _inputs(loaded)]
        ds = DEVICE.datasets.get(dataset)
        if index != names.index(fake_om.DYNAMIC_TENSOR_NAME) or ds is None or index >= len(ds.buffers):
            return INVALID_PARAM
        if tuple(values) not in model.gears:
            return DYNAMIC_BATCH_SIZE_INVALID
        ptr, size = DEVICE.data_buffers[ds.buffers[index]]
        memory = DEVICE.read(ptr, size)
        if memory is None or size < model.gear_payload_size():
            return RT_PARAM_INVALID
        payload = np.zeros(size // 8, np.int64)
        payload[:len(values)] = values
        memory[:] = payload.view(np.uint8)
        return OK


def set_dynamic_batch_size(model_id: int, dataset: int, index: int, batch: int) -> int:
    return _set_gear(model_id, dataset, index, "batch", [batch])


def set_dynamic_hw_size(model_id: int, dataset: int, index: int, height: int, width: int) -> int:
    return _set_gear(model_id, dataset, index, "image_size", [height, width])


def set_input_dynamic_dims(model_id: int, dataset: int, index: int, dims: dict) -> int:
    loaded = DEVICE.models.get(model_id)
    if loaded is None:
        return INVALID_MODEL_ID
    full = list(dims.get("dims", []))
    if dims.get("dimCount") != len(full):
        return INVALID_PARAM
    gears = loaded.model.full_dims_gears()
    if full not in gears:
        return DYNAMIC_BATCH_SIZE_INVALID
    return _set_gear(model_id, dataset, index, "dims", loaded.model.gears[gears.index(full)])


# ---- execution -----------------------------------------------------------------------------------
def _buffers(dataset: int, expected: int):
    ds = DEVICE.datasets.get(dataset)
    if ds is None or len(ds.buffers) != expected:
        return None
    return [DEVICE.data_buffers.get(b) for b in ds.buffers]


def _stage(model_id: int, input_dataset: int, output_dataset: int):
    """(0, the input arrays, the output buffers, the model) ready to compute, or (the error, ...)."""
    with DEVICE.lock:
        loaded, ret = _ready_model(model_id)
        if ret:
            return ret, None, None, None
        model = loaded.model
        described_in, described_out = _inputs(loaded), _outputs(loaded)
        ins = _buffers(input_dataset, len(described_in))
        outs = _buffers(output_dataset, len(described_out))
        if ins is None or None in ins:
            return MODEL_INPUT_NOT_MATCH, None, None, None
        if outs is None or None in outs:
            return MODEL_OUTPUT_NOT_MATCH, None, None, None
        dims = [t.dims for t in model.inputs]
        if model.gears:
            ptr, size = ins[-1]
            payload = DEVICE.read(ptr, size)
            if payload is None:
                return RT_PARAM_INVALID, None, None, None
            gear = tuple(int(v) for v in payload.view(np.int64)[:len(model.gears[0])])
            if gear not in model.gears:
                return DYNAMIC_BATCH_SIZE_INVALID, None, None, None  # no gear was set on this dataset
            dims = model.fill(gear)
        arrays = []
        for tensor, shape, (ptr, size), described in zip(model.inputs, dims, ins, described_in):
            needed = tensor.nbytes(shape)
            if size != described[4] and not (model.gears and size >= needed):
                return MODEL_DATA_SIZE_INVALID, None, None, None
            memory = DEVICE.read(ptr, needed)
            if memory is None:
                return RT_PARAM_INVALID, None, None, None  # freed or foreign memory
            arrays.append(memory.view(tensor.dtype).reshape(shape))
        return OK, arrays, outs, loaded


def _compute(loaded: LoadedModel, arrays, outs) -> int:
    """The model's work on the one compute unit: the ONNX source, or with the stand-in a fixed sleep (no CPU,
    the GIL released, outputs left as they are: the stand-in measures time, never numbers)."""
    model = loaded.model
    with DEVICE.compute_unit:
        if DEVICE.device_seconds > 0:
            time.sleep(DEVICE.device_seconds)
            results = None
        else:
            results = model.compute(arrays)
    with DEVICE.lock:
        if results is None:
            loaded.cur_output_dims = [list(t.dims) for t in model.outputs]
            DEVICE.stats["execute"] += 1
            return OK
        for result, (ptr, size) in zip(results, outs):
            if size < result.nbytes:
                return MODEL_DATA_SIZE_INVALID
            memory = DEVICE.read(ptr, result.nbytes)
            if memory is None:
                return RT_PARAM_INVALID
            memory[:] = result.reshape(-1).view(np.uint8)
        loaded.cur_output_dims = [list(r.shape) for r in results]
        DEVICE.stats["execute"] += 1
        return OK


def execute(model_id: int, input_dataset: int, output_dataset: int) -> int:
    ret, arrays, outs, loaded = _stage(model_id, input_dataset, output_dataset)
    return ret or _compute(loaded, arrays, outs)


def execute_async(model_id: int, input_dataset: int, output_dataset: int, stream: int) -> int:
    """`ret = acl.mdl.execute_async(model_id, input, output, stream)`: queued on the stream, done at its
    synchronize (https://hiascend.com/document/detail/zh/canncommercial/601/inferapplicationdev/aclpythondevg/
    aclpythondevg_01_0122.html). One model may not run on two streams at once (the same page): refused."""
    with DEVICE.lock:
        on = DEVICE.streams.get(stream)
        if on is None:
            return INVALID_HANDLE
        loaded, ret = _ready_model(model_id)
        if ret:
            return ret
        busy = getattr(loaded, "async_stream", None)
        if busy is not None and busy != stream and DEVICE.streams.get(busy) is not None \
                and not DEVICE.streams[busy].idle.is_set():
            DEVICE.stats["execute_async_refused"] += 1
            return MODEL_EXECUTE_CONCURRENT
        loaded.async_stream = stream
        DEVICE.stats["execute_async"] += 1

    def run() -> int:
        ret, arrays, outs, staged = _stage(model_id, input_dataset, output_dataset)
        return ret or _compute(staged, arrays, outs)

    on.submit(run)
    return OK
