"""Fake `mindx.sdk`: `base` (mx_init, mx_deinit, model, Model) and `Tensor`."""
from . import base
from .base import Tensor

__all__ = ["base", "Tensor"]
