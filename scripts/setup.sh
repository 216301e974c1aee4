#!/usr/bin/env bash
# Set up a development machine: .venv (Python 3.11) with every extra, then the real test assets.
# Idempotent: re-running only installs what is missing. Usage: scripts/setup.sh [--core38]
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${OMDEPLOY_PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch 2.13.0 is the CPU build on this machine's disk; any other pin pulls a multi-GB CUDA build.
.venv/bin/pip install -q --disable-pip-version-check "torch==2.13.0" -e ".[all,dev]"
.venv/bin/python scripts/fetch_assets.py

if [ "${1:-}" = "--core38" ] && command -v python3.8 >/dev/null 2>&1; then
  # The edge boxes run Python 3.8 with numpy < 2: the core (no torch) must work there.
  if [ ! -x .venv38/bin/python ]; then
    python3.8 -m venv .venv38
  fi
  .venv38/bin/pip install -q --disable-pip-version-check "numpy<2" -e ".[cli,onnx,images]" pytest
fi
