"""omdeploy serve: an HTTP inference service (FastAPI + uvicorn, extra 'serve')."""
