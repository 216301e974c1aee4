#!/usr/bin/env bash
# The box-side suite on aarch64 under qemu user-mode emulation, with the box's Python and numpy (docs/arm64.md).
#
#   scripts/arm64.sh            build (once, cached) and run the box-side subset of the suite
#   scripts/arm64.sh -k doctor  extra pytest arguments are passed on
#
# Cached in $OMDEPLOY_ARM64_CACHE (default ~/.cache/omdeploy/arm64): a Debian bullseye arm64 root (Python 3.9.2,
# glibc 2.31) unpacked with mmdebstrap, the box's wheels downloaded on this side, a venv inside the root. Each run
# reinstalls omdeploy from a wheel of this checkout and copies the tests in.
#
# Safety: no host folder is ever bind-mounted into the root (removing a root with a live bind of /dev deletes the
# host's device nodes). proc and sysfs are mounted only inside a private mount namespace that ends with the run;
# the root has its own device nodes (mmdebstrap --mode=root creates them). Before anything under the root is
# removed, the script checks that nothing under it is a mount point.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${OMDEPLOY_ARM64_CACHE:-$HOME/.cache/omdeploy/arm64}
SUITE=bullseye
BOX_PY=3.9
ROOT=$CACHE/root
WHEELS=$CACHE/wheels
# The box's pins: numpy < 2; the newest onnxruntime, Pillow and OpenCV that have cp39 aarch64 wheels
# (opencv-python-headless 4.12 needs numpy 2).
BOX_REQUIREMENTS=("numpy<2" onnxruntime onnx onnxslim pillow pyyaml typer rich "opencv-python-headless<4.12" pytest)
# What runs on the box: spec, explain, doctor on fixture trees, jpeg, Session on onnxruntime with a real model,
# run and resume, the acl and mindx fakes. Tests marked slow_emulated (heavy inference) are off on this leg.
BOX_TESTS=(
  tests/test_spec.py tests/test_core_imports.py tests/test_box_runtime.py
  tests/ascend/test_knowledge.py tests/ascend/test_doctor.py tests/ascend/test_cann.py
  tests/ascend/test_npusmi.py tests/ascend/test_setenv.py tests/ascend/test_jpeg.py
  tests/runtime/test_session.py tests/runtime/test_acl.py tests/runtime/test_mindx.py
  tests/tools/test_runner.py
)

fail() { echo "arm64: $*" >&2; exit 1; }

nothing_mounted_under() {
  ! findmnt -rn -o TARGET | awk -v root="$1" 'index($0, root "/") == 1 || $0 == root { found = 1 } END { exit !found }'
}

ensure_emulation() {
  if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    [ "$(id -u)" = 0 ] || fail "binfmt_misc is not mounted and this is not root: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc"
    # Mounted before qemu-user-static is installed, so its setup registers qemu-aarch64 with the F flag.
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  local need=()
  command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
  [ -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || [ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static binfmt-support)
  if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || fail "missing ${need[*]}: apt-get install ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  fi
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || fail "qemu-aarch64 is not registered with binfmt_misc (update-binfmts --enable qemu-aarch64)"
  grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || fail "qemu-aarch64 is registered without the F flag: unmount binfmt_misc's registration and reinstall qemu-user-static"
}

build_root() {
  if [ -f "$ROOT/.omdeploy-root-ok" ]; then return; fi
  if [ -d "$ROOT" ]; then
    nothing_mounted_under "$ROOT" || fail "something is mounted under $ROOT: unmount it before the root is rebuilt"
    rm -rf "$ROOT"
  fi
  mkdir -p "$CACHE"
  echo "== arm64: unpacking a Debian $SUITE arm64 root =="
  mmdebstrap --quiet --mode=root --arch=arm64 --variant=extract \
    --include=coreutils,dash,bash,findutils,python3,python3-venv,python3-pip,libjpeg-turbo-progs,libgomp1,ca-certificates \
    "$SUITE" "$ROOT" http://deb.debian.org/debian
  mkdir -p "$ROOT/proc" "$ROOT/sys" "$ROOT/tmp"
  touch "$ROOT/.omdeploy-root-ok"
}

download_wheels() {
  local stamp="$WHEELS/.ok-$(printf '%s\n' "${BOX_REQUIREMENTS[@]}" | sha256sum | cut -c1-16)"
  if [ -f "$stamp" ]; then return; fi
  local py; py=$(scripts/find_python.sh "$BOX_PY") || fail "no Python $BOX_PY on this machine to resolve the box's wheels with"
  echo "== arm64: downloading cp${BOX_PY/./} aarch64 wheels =="
  rm -rf "$WHEELS" && mkdir -p "$WHEELS"
  # This machine's pip configuration points at local wheel folders that send the resolver into endless
  # backtracking for a foreign platform.
  PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= "$py" -m pip download -q --disable-pip-version-check \
    --only-binary=:all: --implementation cp --python-version "$BOX_PY" \
    --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
    --platform manylinux_2_27_aarch64 --platform manylinux_2_28_aarch64 \
    -d "$WHEELS" "${BOX_REQUIREMENTS[@]}"
  touch "$stamp"
}

# Runs a command inside the root, in a private mount namespace with the root's own proc and sysfs
# (onnxruntime aborts without /sys); the mounts end with the namespace.
in_root() {
  unshare --mount --propagation private -- bash -c '
    root=$1; shift
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    exec chroot "$root" /usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 CI="${CI:-}" \
      OMDEPLOY_ASSETS=/src/.assets "$@"
  ' in_root "$ROOT" "$@"
}

install_venv() {
  rm -rf "$ROOT/wheels" && mkdir -p "$ROOT/wheels"
  cp "$WHEELS"/*.whl "$ROOT/wheels/"
  PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= .venv/bin/pip wheel -q --no-deps --no-build-isolation -w "$ROOT/wheels" . \
    >/dev/null || fail "building the omdeploy wheel failed"
  local reqs_stamp; reqs_stamp="$ROOT/opt/.venv-$(ls "$WHEELS" | sha256sum | cut -c1-16)"
  if [ ! -f "$reqs_stamp" ]; then
    echo "== arm64: creating the box venv (pip under emulation, a few minutes) =="
    rm -rf "$ROOT/opt/venv" "$ROOT"/opt/.venv-*
    in_root /usr/bin/python3 -m venv /opt/venv
    in_root /opt/venv/bin/pip install -q --no-index --find-links /wheels "omdeploy[cli,onnx,images,vision]" pytest
    touch "$reqs_stamp"
  fi
  in_root /opt/venv/bin/pip install -q --no-index --find-links /wheels --force-reinstall --no-deps omdeploy
}

copy_tests() {
  nothing_mounted_under "$ROOT/src" || fail "something is mounted under $ROOT/src"
  rm -rf "$ROOT/src" && mkdir -p "$ROOT/src"
  cp -r tests pyproject.toml "$ROOT/src/"
  find "$ROOT/src" -name __pycache__ -prune -exec rm -rf {} +
  [ -d .assets ] || fail ".assets is missing: run scripts/setup.sh first"
  cp -rL .assets "$ROOT/src/.assets"
}

pack_demo_bundle() {
  # The two-machine workflow of docs/bundle.md: the demo deployment packed here with this machine's Python and
  # real photos, then verified inside the box with --backend sim (no NPU there either).
  local work; work=$(mktemp -d)
  .venv/bin/python - "$work" <<'PY' || fail "packing the demo bundle on the host failed"
import shutil, sys
from pathlib import Path
from omdeploy.tools.pack import pack
from omdeploy.demo import demo_spec, export_efficientnet_lite0

work, assets = Path(sys.argv[1]), Path(".assets")
model = Path(export_efficientnet_lite0(assets / "models" / "efficientnet-lite0.pth", work / "efficientnet_lite0.onnx").path)
spec = demo_spec(model, (assets / "imagenet_classes.txt").resolve()).save(work / "deploy.yaml")
(work / "photos").mkdir()
for name in ("coffee.png", "chelsea.png", "rocket.jpg"):
    shutil.copy(str(assets / "images" / name), str(work / "photos" / name))
pack(spec, work / "demo.tar", images=[work / "photos"])
PY
  cp "$work/demo.tar" "$ROOT/src/demo.tar"
  rm -rf "$work"
}

ensure_emulation
build_root
download_wheels
install_venv
copy_tests
pack_demo_bundle
in_root /opt/venv/bin/python -c 'import platform, sys, numpy, onnxruntime
assert platform.machine() == "aarch64", platform.machine()
assert numpy.__version__ < "2", numpy.__version__
print("arm64: python", sys.version.split()[0], "on", platform.machine(), "numpy", numpy.__version__,
      "onnxruntime", onnxruntime.__version__)'
echo "== box: omdeploy verify of a bundle packed on the host (aarch64 under qemu) =="
in_root /bin/sh -c 'cd /tmp && exec omdeploy verify /src/demo.tar --backend sim --report /tmp/verify.md' \
  || fail "verify of the host-packed bundle failed in the box"
echo "== box-side suite (aarch64 under qemu, Python $BOX_PY, numpy < 2) =="
set +e
in_root /bin/sh -c 'cd /src && exec python -m pytest -p no:cacheprovider -m "not slow_emulated and not needs_torch and not needs_openvino" "$@"' \
  pytest "${BOX_TESTS[@]}" "$@"
code=$?
set -e
exit $code
