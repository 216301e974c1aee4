#!/usr/bin/env bash
# The project's test command (README step 2, and what CI runs): set up, lint, type-check, then three legs:
#   1. the full suite on Python 3.11 (.venv, every extra, real assets);
#   2. the core suite on Python 3.8 with numpy < 2 (.venv38, no torch/openvino), as on the edge boxes,
#      when a Python 3.8 interpreter exists on the machine;
#   3. the box-side suite on aarch64 under qemu (scripts/arm64.sh).
# Each leg runs on one core, so the legs run side by side (OMDEPLOY_TEST_SERIAL=1 runs them one after the other);
# their output is printed leg by leg when all have finished. Any failure, missing asset or skipped test under
# CI=true fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

PY38=$(scripts/find_python.sh 3.8 || true)
if [ -n "$PY38" ]; then
  if [ ! -x .venv38/bin/python ]; then
    "$PY38" -m venv .venv38
  fi
  # mypy < 1.15 is the last that checks a Python 3.8 target
  if ! .venv38/bin/pip install -q --disable-pip-version-check "numpy<2" -e ".[cli,onnx,images,vision,serve]" pytest httpx \
      "mypy>=1.4,<1.15" >.venv38/pip.log 2>&1; then
    grep -v "is ignored: it is neither" .venv38/pip.log >&2
    echo "test: pip install for Python 3.8 failed (log above)" >&2
    exit 1
  fi
fi

echo "== lint (pyflakes rules, Python 3.8 syntax) =="
.venv/bin/ruff check --quiet --select F,E9 --target-version py38 src tests benchmarks scripts

echo "== types (mypy on src/omdeploy, Python 3.8 target; [tool.mypy] in pyproject.toml) =="
if [ -n "$PY38" ]; then
  .venv38/bin/python -m mypy
elif [ "${CI:-}" = true ]; then
  echo "test: no Python 3.8 interpreter for the type check" >&2
  exit 1
else
  echo "(no Python 3.8 here: checking with .venv's mypy for Python 3.10 instead)"
  .venv/bin/python -m mypy --python-version 3.10 --no-warn-unused-ignores
fi

LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT

leg311() {
  echo "== full suite (Python 3.11) =="
  .venv/bin/python -m pytest tests -p no:cacheprovider "$@"
}

leg38() {
  if [ -n "$PY38" ]; then
    echo "== core suite (Python 3.8, numpy < 2, no torch/openvino/ray) =="
    .venv38/bin/python -c 'import numpy, sys; assert numpy.__version__ < "2", numpy.__version__; print("python", sys.version.split()[0], "numpy", numpy.__version__)' &&
    .venv38/bin/python -m pytest tests -p no:cacheprovider -m "not needs_torch and not needs_openvino and not needs_ray" "$@"
  else
    echo "== core suite skipped: no Python 3.8 interpreter on this machine =="
  fi
}

# the box-side suite on aarch64 under qemu, with the box's Python and numpy (docs/arm64.md). Under CI it always
# runs and fails when emulation cannot be set up; elsewhere OMDEPLOY_ARM64=0 leaves it out.
legarm64() {
  if [ "${CI:-}" = true ] || [ "${OMDEPLOY_ARM64:-1}" != 0 ]; then
    scripts/arm64.sh "$@"
  else
    echo "== box-side aarch64 suite left out (OMDEPLOY_ARM64=0) =="
  fi
}

LEGS=(leg311 leg38 legarm64)
failed=0
if [ "${OMDEPLOY_TEST_SERIAL:-0}" = 1 ]; then
  # each leg in the background and waited for at once: a leg called in an `||` list would run without set -e
  for leg in "${LEGS[@]}"; do
    "$leg" "$@" &
    wait $! || failed=1
  done
else
  pids=()
  for leg in "${LEGS[@]}"; do
    "$leg" "$@" >"$LOGS/$leg.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!LEGS[@]}"; do
    status=0
    wait "${pids[$i]}" || status=$?
    cat "$LOGS/${LEGS[$i]}.log"
    if [ "$status" != 0 ]; then
      echo "test: ${LEGS[$i]} failed (exit $status)" >&2
      failed=1
    fi
  done
fi
exit "$failed"
