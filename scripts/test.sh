#!/usr/bin/env bash
# The project's test command (README step 2, and what CI runs): set up, then
#   1. the full suite on Python 3.11 (.venv, every extra, real assets);
#   2. the core suite on Python 3.8 with numpy < 2 (.venv38, no torch/openvino), as on the edge boxes,
#      when a Python 3.8 interpreter exists on the machine.
# Any failure, missing asset or skipped test under CI=true fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== lint (pyflakes rules, Python 3.8 syntax) =="
.venv/bin/ruff check --quiet --select F,E9 --target-version py38 src tests benchmarks scripts

echo "== full suite (Python 3.11) =="
.venv/bin/python -m pytest tests -p no:cacheprovider "$@"

PY38=$(scripts/find_python.sh 3.8 || true)
if [ -n "$PY38" ]; then
  echo "== core suite (Python 3.8, numpy < 2, no torch/openvino/ray) =="
  if [ ! -x .venv38/bin/python ]; then
    "$PY38" -m venv .venv38
  fi
  if ! .venv38/bin/pip install -q --disable-pip-version-check "numpy<2" -e ".[cli,onnx,images,vision,serve]" pytest httpx \
      >.venv38/pip.log 2>&1; then
    grep -v "is ignored: it is neither" .venv38/pip.log >&2
    echo "test: pip install for Python 3.8 failed (log above)" >&2
    exit 1
  fi
  .venv38/bin/python -c 'import numpy, sys; assert numpy.__version__ < "2", numpy.__version__; print("python", sys.version.split()[0], "numpy", numpy.__version__)'
  .venv38/bin/python -m pytest tests -p no:cacheprovider -m "not needs_torch and not needs_openvino and not needs_ray" "$@"
else
  echo "== core suite skipped: no Python 3.8 interpreter on this machine =="
fi

# 3. the box-side suite on aarch64 under qemu, with the box's Python and numpy (docs/arm64.md). Under CI it always
#    runs and fails when emulation cannot be set up; elsewhere OMDEPLOY_ARM64=0 leaves it out.
if [ "${CI:-}" = true ] || [ "${OMDEPLOY_ARM64:-1}" != 0 ]; then
  scripts/arm64.sh "$@"
else
  echo "== box-side aarch64 suite left out (OMDEPLOY_ARM64=0) =="
fi
