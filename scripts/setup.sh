#!/usr/bin/env bash
# Set up a development machine: .venv (Python 3.11) with every extra, then the real test assets.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian tools the tests use: cjpeg (arithmetic/progressive JPEGs for the DVPP checks)
if ! command -v cjpeg >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjpeg-turbo-progs >/dev/null
  else
    echo "setup: cjpeg is missing: install Debian's libjpeg-turbo-progs (sudo apt-get install libjpeg-turbo-progs)" >&2
    exit 1
  fi
fi
# ONNX's node conformance cases (tests/runtime/test_node_conformance.py), when the onnx wheel does not ship them
if [ ! -d /usr/share/libonnx-testdata/data/node ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libonnx-testdata >/dev/null || \
    echo "setup: libonnx-testdata is missing: the node conformance sweep will be skipped" >&2
fi

# chromium: the status-page test of omdeploy serve renders it headless (under CI a missing chromium fails it)
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: chromium is missing: install Debian's chromium (sudo apt-get install chromium)" >&2
    exit 1
  fi
fi

PY=${OMDEPLOY_PYTHON:-$(scripts/find_python.sh 3.11)}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch 2.13.0 is the CPU build on this machine's disk; any other pin pulls a multi-GB CUDA build.
if ! .venv/bin/pip install -q --disable-pip-version-check "torch==2.13.0" -e ".[all,dev]" >.venv/pip.log 2>&1; then
  grep -v "is ignored: it is neither" .venv/pip.log >&2
  echo "setup: pip install failed (log above)" >&2
  exit 1
fi
.venv/bin/python -c "import omdeploy, torch, onnx, onnxruntime, openvino"  # fail here, not in the tests
.venv/bin/python scripts/fetch_assets.py

