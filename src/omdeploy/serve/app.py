"""The FastAPI app: Open Inference Protocol (KServe v2), task predict, /metrics and the status page."""
# no "from __future__ import annotations": FastAPI reads the handlers' annotations (Request) at run time

import asyncio
import functools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Optional

from ..errors import UserError
from .batcher import QueueFull
from ..images import decode_image
from .models import ServedModel

STATIC = Path(__file__).parent / "static"
PUBLIC = ("/v2/health/live", "/v2/health/ready", "/", "/static/status.js")


def _metrics():
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    reg = CollectorRegistry()
    return reg, {
        "requests": Counter("omdeploy_requests", "Requests by model, endpoint and status", ["model", "endpoint", "status"],
                            registry=reg),
        "total": Histogram("omdeploy_request_seconds", "Request latency", ["model"], registry=reg),
        "wait": Histogram("omdeploy_queue_wait_seconds", "Queue wait", ["model"], registry=reg),
        "infer": Histogram("omdeploy_inference_seconds", "Inference time per batch", ["model"], registry=reg),
        "batch": Histogram("omdeploy_batch_size", "Batch sizes", ["model"], buckets=(1, 2, 4, 8, 16, 32, 64),
                           registry=reg),
        "depth": Gauge("omdeploy_queue_depth", "Queued requests", ["model"], registry=reg),
        "npu_mem": Gauge("omdeploy_npu_memory_used_mb", "NPU memory used (npu-smi)", ["npu", "chip"], registry=reg),
        "npu_total": Gauge("omdeploy_npu_memory_total_mb", "NPU memory (npu-smi)", ["npu", "chip"], registry=reg),
        "npu_util": Gauge("omdeploy_npu_aicore_percent", "NPU AI core utilisation (npu-smi)", ["npu", "chip"],
                          registry=reg),
    }


def _observe_batch(m: Dict[str, Any], name: str, size: int, wait: float, infer: float) -> None:
    m["batch"].labels(name).observe(size)
    m["wait"].labels(name).observe(wait)
    m["infer"].labels(name).observe(infer)


def create_app(models: Dict[str, ServedModel], api_key: Optional[str] = None, max_body_mb: float = 16,
               timeout_s: float = 30.0, decode_threads: int = 2):
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    registry, m = _metrics()
    # decode + preprocess on a few threads, not anyio's default 40: each holds a full-size decoded photo (a
    # 3600x3700 PNG is 40 MB as RGB), so the peak memory and the CPU contention with inference stay bounded
    decoders = ThreadPoolExecutor(decode_threads, "omdeploy-serve-decode")
    for model in models.values():
        model.batcher.on_batch = functools.partial(_observe_batch, m, model.name)
    app = FastAPI(title="omdeploy serve", docs_url=None, redoc_url=None, openapi_url=None)
    limit = int(max_body_mb * 1024 * 1024)

    def error(status: int, message: str, hint: Optional[str] = None, headers=None):
        body = {"error": message}
        if hint:
            body["hint"] = hint
        return JSONResponse(body, status_code=status, headers=headers)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        path = request.url.path
        if api_key and path not in PUBLIC and request.headers.get("authorization") != "Bearer " + api_key:
            return error(401, "missing or wrong API key", "send 'Authorization: Bearer KEY'",
                         {"WWW-Authenticate": "Bearer"})
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return error(413, "the request body is {} bytes, over the {} MB limit".format(length, max_body_mb),
                         "serve with a larger --max-body-mb")
        try:
            return await call_next(request)
        except Exception as exc:  # the contract: a request never gets a traceback
            return error(400, "{}: {}".format(type(exc).__name__, str(exc)[:200]))

    async def body_of(request: Request) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise UserError("__413__")
            chunks.append(chunk)
        return b"".join(chunks)

    async def image_field(headers, raw: bytes) -> bytes:
        """The bytes of the multipart field 'image' (the body was already read within the size limit)."""
        try:
            from starlette.formparsers import MultiPartException, MultiPartParser
        except ImportError:
            raise UserError("multipart uploads need python-multipart on the server",
                            "pip install 'omdeploy[serve]', or send the image as the raw body") from None

        async def stream():
            yield raw

        try:
            form = await MultiPartParser(headers, stream(), max_files=4, max_fields=16, max_part_size=limit).parse()
        except (MultiPartException, ValueError, KeyError) as exc:
            raise UserError("the multipart body is malformed: {}".format(str(exc)[:160] or type(exc).__name__),
                            "curl -F image=@photo.jpg URL") from None
        try:
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise UserError("the multipart body has no file field 'image' (fields: {})".format(
                    ", ".join(form.keys()) or "none"), "curl -F image=@photo.jpg URL")
            return await upload.read()
        finally:
            await form.close()

    def model_of(name: str) -> ServedModel:
        if name not in models:
            from ..errors import did_you_mean
            raise UserError("unknown model {!r}{}; served: {}".format(name, did_you_mean(name, models),
                                                                      ", ".join(models)))
        return models[name]

    async def call(name: str, endpoint: str, work):
        start = time.perf_counter()
        status = 200
        try:
            model = model_of(name)
            result = await work(model)
            return JSONResponse(result)
        except QueueFull:
            status = 503
            return error(503, "model {!r} is busy: its queue is full".format(name), "retry after a second",
                         {"Retry-After": "1"})
        except asyncio.TimeoutError:
            status = 504
            return error(504, "the request took longer than {} s".format(timeout_s))
        except UserError as exc:
            if exc.message == "__413__":
                status = 413
                return error(413, "the request body is over the {} MB limit".format(max_body_mb))
            status = 404 if exc.message.startswith("unknown model") else 400
            return error(status, exc.message, exc.hint)
        finally:
            m["requests"].labels(name if name in models else "", endpoint, str(status)).inc()
            if name in models:
                m["total"].labels(name).observe(time.perf_counter() - start)

    async def run_job(model: ServedModel, kind: str, payload: Any):
        future = model.batcher.submit(kind, payload)
        m["depth"].labels(model.name).set(model.batcher.depth)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)

    @app.get("/v2/health/live")
    async def live():
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready():
        return {"ready": True}

    @app.get("/v2")
    async def server_meta():
        from .. import __version__
        return {"name": "omdeploy", "version": __version__, "extensions": []}

    @app.get("/v1/models")
    async def list_models():
        return {"models": [mo.metadata() for mo in models.values()]}

    @app.get("/v2/models/{name}")
    async def meta(name: str):
        async def work(model):
            return model.metadata()
        return await call(name, "metadata", work)

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str):
        async def work(model):
            return {"name": name, "ready": True}
        return await call(name, "ready", work)

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request):
        async def work(model):
            raw = await body_of(request)
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise UserError("the body is not JSON: {}".format(str(exc)[:120])) from None
            feeds = model.tensors_from_v2(body)
            outputs = await run_job(model, "tensors", feeds)
            reply = {"model_name": name, "model_version": "1", "outputs": model.v2_outputs(outputs)}
            if isinstance(body, dict) and "id" in body:
                reply["id"] = body["id"]
            return reply
        return await call(name, "infer", work)

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, request: Request):
        async def work(model):
            ctype = request.headers.get("content-type", "")
            multipart = ctype.startswith("multipart/form-data")
            if not multipart and not ctype.startswith("image/") and ctype != "application/octet-stream":
                raise UserError("expected the image as the body with Content-Type image/*, or a multipart field "
                                "'image', got {!r}".format(ctype or "none"),
                                "curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' URL, or curl -F "
                                "image=@photo.jpg URL")
            raw = await body_of(request)
            if multipart:
                raw = await image_field(request.headers, raw)
            if model.batcher.full:
                raise QueueFull()  # before the decode: an overloaded server refuses cheaply
            # the decoder thread queues the prepared input itself: one thread hop less per request
            future = await asyncio.get_running_loop().run_in_executor(
                decoders, lambda: model.batcher.submit("predict", model.task.prepare(decode_image(raw))))
            m["depth"].labels(model.name).set(model.batcher.depth)
            result = await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
            return {"model": name, "ok": True, "task": model.task.name, "result": result}
        return await call(name, "predict", work)

    @app.get("/metrics")
    async def metrics():
        for model in models.values():
            m["depth"].labels(model.name).set(model.batcher.depth)
        await asyncio.get_running_loop().run_in_executor(None, _npu_gauges, m)  # npu-smi is a subprocess
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/")
    async def page():
        return FileResponse(STATIC / "status.html", media_type="text/html")

    @app.get("/static/status.js")
    async def page_js():
        return FileResponse(STATIC / "status.js", media_type="application/javascript")

    app.router.on_shutdown.append(lambda: decoders.shutdown(wait=True))
    return app


_NPU_CACHE: Dict[str, Any] = {"at": 0.0, "info": None}


def _npu_gauges(m) -> None:
    """Memory and AI-core use per chip from `npu-smi info` (at most every 10 s); nothing without npu-smi."""
    import subprocess

    from ..ascend.npusmi import parse_npu_smi, run_npu_smi

    if _NPU_CACHE["at"] == 0.0 or time.monotonic() - _NPU_CACHE["at"] > 10:
        _NPU_CACHE["at"] = time.monotonic()
        try:
            text = run_npu_smi(timeout=3.0)
        except (OSError, subprocess.SubprocessError):
            text = None  # a hung or broken npu-smi must not take /metrics down
        _NPU_CACHE["info"] = parse_npu_smi(text) if text else None
    info = _NPU_CACHE["info"]
    for chip in (info.chips if info else []):
        labels = (str(chip.npu_id), str(chip.chip_id))
        for key, value in (("npu_mem", chip.memory_used_mb), ("npu_total", chip.memory_total_mb),
                           ("npu_util", chip.aicore_percent)):
            if value is not None:
                m[key].labels(*labels).set(value)
