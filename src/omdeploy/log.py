"""One logger for the whole package, with once-only messages for repeated adaptations."""
from __future__ import annotations

import logging
import threading

logger = logging.getLogger("omdeploy")
logger.addHandler(logging.NullHandler())

_said: set = set()  # the messages info_once has logged
_said_lock = threading.Lock()


def info_once(key: object, message: str, *args: object) -> None:
    """Log at INFO the first time `key` is seen in this process (adaptations are said once, not per call)."""
    with _said_lock:
        if key in _said:
            return
        _said.add(key)
    logger.info(message, *args)


def warning_once(key: object, message: str, *args: object) -> None:
    with _said_lock:
        if key in _said:
            return
        _said.add(key)
    logger.warning(message, *args)
