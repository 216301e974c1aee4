"""omdeploy serve MODEL...: an HTTP inference service (Open Inference Protocol, task predict, /metrics, status page)."""
from __future__ import annotations

from typing import List, Optional

import typer

from ..errors import UserError
from ..spec import SPEC_SUFFIXES


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        models: List[str] = typer.Argument(..., help="Models: a spec, an ONNX/.om file (or bundle), NAME=PATH "
                                                     "to name it."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback unless told)."),
        port: int = typer.Option(8000, "--port", min=0, max=65535),
        task: Optional[str] = typer.Option(None, "--task", "-t", help="Task of bare models (default: the spec's, "
                                                                      "else classify)."),
        max_batch: int = typer.Option(8, "--max-batch", min=1, help="Requests run together at most."),
        batch_delay_ms: float = typer.Option(2.0, "--batch-delay-ms", min=0.0, help="Wait for a batch to fill."),
        queue: int = typer.Option(64, "--queue", min=1, help="Queued requests per model; beyond: 503."),
        workers: int = typer.Option(1, "--workers", min=1, help="Server processes: 1 (the models and their runtime "
                                                                 "are loaded once, in one process)."),
        decode_threads: int = typer.Option(2, "--decode-threads", min=1, help="Threads decoding and preprocessing "
                                           "uploads (as `omdeploy run --workers`)."),
        threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Inference threads (default: all "
                                                                              "cores but one, as `omdeploy run`)."),
        api_key: Optional[str] = typer.Option(None, "--api-key", envvar="OMDEPLOY_API_KEY",
                                              help="Bearer token for every endpoint but health."),
        max_body_mb: float = typer.Option(16.0, "--max-body-mb", min=0.001, help="Request body limit (413)."),
        timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Seconds per request (504 after)."),
        backend: str = typer.Option("auto", "--backend"),
    ) -> None:
        """Serve models over HTTP: KServe v2 /v2/models/NAME/infer, /v1/models/NAME/predict, /metrics, /."""
        if workers > 1:
            # one process by design: pyACL allows one init per process and the acl backend shares that runtime
            # between models and threads; N processes would each load every model (N x device memory) and
            # keep their own queue bound and /metrics. Replicas are N `omdeploy serve` on N ports.
            raise UserError("--workers {}: omdeploy serve runs one process, the models loaded once and sharing "
                            "one runtime".format(workers),
                            hint="for replicas start one `omdeploy serve --port P` per replica (each loads the "
                                 "models); for more decode throughput raise --decode-threads")
        from .._optional import require
        from ..tools.runner import inference_threads
        from ..tasks.factory import task_name

        require("fastapi", "omdeploy serve")
        uvicorn = require("uvicorn", "omdeploy serve")
        from pathlib import Path

        from ..serve.app import create_app
        from ..serve.malloc import pin_mmap_threshold
        from ..serve.models import ServedModel, parse_model_arg

        pin_mmap_threshold()  # before the models load: RSS stays flat over long runs (see serve/malloc.py)
        served = {}
        try:
            for text in models:
                name, path = parse_model_arg(text)
                if name in served:
                    raise UserError("two models are named {!r}".format(name), hint="name them: a=m1.onnx b=m2.onnx")
                if not Path(path).exists():
                    raise UserError("model {} does not exist".format(path))
                kind = task if task is not None or path.suffix.lower() in SPEC_SUFFIXES else "classify"
                served[name] = ServedModel(name, path, task_name(path, kind), max_batch, batch_delay_ms, queue,
                                           backend=backend, threads=threads or inference_threads(decode_threads))
            app = create_app(served, api_key=api_key, max_body_mb=max_body_mb, timeout_s=timeout,
                             decode_threads=decode_threads)
            uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10,
                        limit_concurrency=None)
        finally:
            for model in served.values():
                model.close()
