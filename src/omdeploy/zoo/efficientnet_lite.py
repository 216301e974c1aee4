"""EfficientNet-Lite0 in plain PyTorch, matching the lukemelas state_dict key names.

Lite variants drop squeeze-excite, use ReLU6 and keep the stem (32) and head (1280) fixed. Convolutions use
TensorFlow "SAME" padding computed statically for the image size, as the original weights were trained with.
Preprocessing for the released weights: short side 256, centre crop 224, RGB, (x - 127) / 128.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Tuple

from .._optional import require

torch = require("torch", "the EfficientNet-Lite0 example model")
nn: Any = torch.nn

# (repeats, kernel, stride, expand_ratio, in, out) of EfficientNet-B0; Lite0 has width = depth = 1.0
BLOCKS: List[Tuple[int, int, int, int, int, int]] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
BN_EPS = 1e-3
PREPROCESS: Dict[str, Any] = {"color": "rgb", "resize": "crop", "short_side": 256, "mean": [127.0], "std": [128.0]}


def same_conv(in_ch: int, out_ch: int, kernel: int, stride: int, size: int, groups: int = 1) -> Tuple[Any, int]:
    """Conv2d with TF 'SAME' padding for a `size`x`size` input; returns (module, output size)."""
    out_size = math.ceil(size / stride)
    pad = max((out_size - 1) * stride + kernel - size, 0)
    conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding=0, groups=groups, bias=False)
    if pad == 0:
        return conv, out_size
    if pad % 2 == 0:
        conv.padding = (pad // 2, pad // 2)
        return conv, out_size
    return nn.Sequential(nn.ZeroPad2d((pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)), conv), out_size


class MBConv(nn.Module):
    def __init__(self, kernel: int, stride: int, expand: int, in_ch: int, out_ch: int, size: int):
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        conv, self.out_size = same_conv(mid, mid, kernel, stride, size, groups=mid)
        self._pad = conv[0] if isinstance(conv, nn.Sequential) else nn.Identity()
        self._depthwise_conv = conv[1] if isinstance(conv, nn.Sequential) else conv
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.skip = stride == 1 and in_ch == out_ch
        self.act = nn.ReLU6()

    def forward(self, x):
        y = x
        if self.has_expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(self._pad(y))))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000, image_size: int = 224):
        super().__init__()
        stem, size = same_conv(3, 32, 3, 2, image_size)
        self._stem_pad = stem[0] if isinstance(stem, nn.Sequential) else nn.Identity()
        self._conv_stem = stem[1] if isinstance(stem, nn.Sequential) else stem
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks = []
        for repeats, kernel, stride, expand, in_ch, out_ch in BLOCKS:
            for r in range(repeats):
                block = MBConv(kernel, stride if r == 0 else 1, expand, in_ch if r == 0 else out_ch, out_ch, size)
                size = block.out_size
                blocks.append(block)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, num_classes)
        self.act = nn.ReLU6()

    def forward(self, x):
        x = self.act(self._bn0(self._conv_stem(self._stem_pad(x))))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        x = x.mean(dim=(2, 3))
        return self._fc(x)


def load_efficientnet_lite0(weights: str, image_size: int = 224) -> EfficientNetLite0:
    """The model with the released weights, in eval mode. Loads with weights_only=True (no pickled code)."""
    from ..onnx.torchload import load_state_dict

    model = EfficientNetLite0(image_size=image_size)
    state = load_state_dict(weights)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        from ..errors import UserError

        raise UserError("{} does not fit EfficientNet-Lite0: expected keys missing {}, unexpected keys {}".format(
            weights, missing[:5], unexpected[:5]))
    return model.eval()
