"""Retry a write when PostgreSQL picks it as a deadlock victim.

The engine locks a stage row before it calls our finaliser, which then updates phase and campaign
rows; requests lock the campaign first. The two orders can meet; PostgreSQL breaks the tie by
aborting one transaction, and running it again is the correct answer.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError

P = ParamSpec("P")
T = TypeVar("T")


def retry_on_deadlock(func: Callable[P, T]) -> Callable[P, T]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(4):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == 3 or getattr(exc.__cause__, "sqlstate", None) not in {"40P01", "40001"}:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    return wrapper
