"""Small helpers the tests share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

from devstack.accounts import client_for, make_tenant, make_user

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | Literal[False] | None],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll until `predicate()` is truthy; return its value. Fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


__all__ = ["client_for", "make_tenant", "make_user", "wait_until"]
