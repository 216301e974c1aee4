"""What an on-box runtime (pyACL, MindX) sets up once per process: the init, who owns it, the models to close
before tearing it down, and the exit hook. Its own module so each backend imports it without the other."""
from __future__ import annotations

import atexit
import threading
from typing import Callable, Set

from .base import Backend


class OncePerProcess:
    """What an on-box runtime sets up once per process, and the models to release before tearing it down."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.owns_init = False  # False when another library initialised the runtime first
        self.open_models: Set[Backend] = set()
        self._exit_hook = False

    def teardown_at_exit(self, teardown: Callable[[], None]) -> None:
        if not self._exit_hook:
            atexit.register(teardown)
            self._exit_hook = True

    def opened(self, model: Backend) -> None:
        with self.lock:
            self.open_models.add(model)

    def closed(self, model: Backend) -> None:
        with self.lock:
            self.open_models.discard(model)

    def close_models(self) -> None:
        with self.lock:
            for model in list(self.open_models):
                model.close()
