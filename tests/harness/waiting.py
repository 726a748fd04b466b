"""Waiting for a condition in the tests: polled, bounded, and failing with what was waited for."""

from __future__ import annotations

import time


def wait_for(condition, timeout: float = 15.0, what: str = "the condition", interval: float = 0.1):
    """condition()'s first true value, polled every interval seconds; AssertionError naming what
    when timeout seconds pass without one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s")
