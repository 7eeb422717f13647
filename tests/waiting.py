"""Waiting for what another process does."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(
    condition: Callable[[], object], timeout: float = 20, interval: float = 0.05
) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; whether it held in the end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
