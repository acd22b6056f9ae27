"""Database helpers of the engine: run a transaction again when PostgreSQL picks it as a deadlock victim
or a serialisation failure (`retry_on_conflict`), and cursors that bind parameters server-side.

Two transactions that lock the same rows in different orders can meet (the engine locks a stage row
before a domain's finaliser updates domain rows; a request locks the domain row first). PostgreSQL
breaks the tie by aborting one of them, and running it again is the correct answer. The decorated
function must open its own transaction, so each attempt starts afresh.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import psycopg
from django.db import OperationalError, connection
from django.db.backends.base.base import BaseDatabaseWrapper

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


@contextmanager
def bound_cursor(db: BaseDatabaseWrapper | None = None) -> Iterator[psycopg.Cursor[Any]]:
    """A cursor on Django's connection (same transaction) that sends parameters apart from the query
    (server-side binding) instead of quoting them into its text. For the engine's hot and bulk
    statements: 10,000-element arrays are not escaped in Python, and psycopg prepares a statement this
    connection has run a few times, so PostgreSQL plans it once. Errors are Django's, as with
    `connection.cursor()`. Behind a transaction-pooling PgBouncer, set `prepare_threshold` to None."""
    db = db or connection  # another thread's wrapper when that thread lent it (`inc_thread_sharing`)
    db.ensure_connection()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        yield cursor
