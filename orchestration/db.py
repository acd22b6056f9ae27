"""Run a transaction again when PostgreSQL picks it as a deadlock victim or a serialisation failure.

Two transactions that lock the same rows in different orders can meet (the engine locks a stage row
before a domain's finaliser updates domain rows; a request locks the domain row first). PostgreSQL
breaks the tie by aborting one of them, and running it again is the correct answer. The decorated
function must open its own transaction, so each attempt starts afresh.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError

P = ParamSpec("P")
T = TypeVar("T")
RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def retry_on_conflict(*, attempts: int) -> Callable[[Callable[P, T]], Callable[P, T]]:
    def decorate(func: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            for attempt in range(attempts):
                try:
                    return func(*args, **kwargs)
                except OperationalError as exc:
                    if attempt == attempts - 1 or getattr(exc.__cause__, "sqlstate", None) not in RETRYABLE_SQLSTATES:
                        raise
                    time.sleep(0.05 * (attempt + 1))
            raise AssertionError("unreachable")

        return wrapper

    return decorate
