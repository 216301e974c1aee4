"""Ascend/CANN knowledge: ATC argv, AIPP, CANN install discovery, npu-smi, error knowledge, DVPP JPEG checks."""
