"""Stream a batch's results into PostgreSQL while the rest of the batch is still on the network.

Without it a batch does its network work, then waits for one large upsert: the worker sits idle for
about a tenth of every DNS or HTTP batch. With it, results are handed over as they complete and a
writer thread upserts them in chunks meanwhile; leaving the `with` block waits for the last chunk.

- Order does not matter: every row is an upsert keyed by its domain.
- Nothing is written until one result shows the batch is usable (`usable(result)`, e.g. one fetch got
  an HTTP answer). A batch whose resolvers or network are broken then raises its retryable error
  before anything is stored, exactly as when it wrote once at the end.
- The writer thread uses the job's own database connection (Django's thread sharing, and psycopg's
  connections are thread-safe) while the job's thread is busy in its event loop and does not touch
  the database: no second connection per worker. Each chunk is one autocommitted statement, so the
  batch must not run inside a transaction.
- `write` gets a server-side binding cursor (`bound_cursor`): chunks go as binary arrays (`%b`).
  Quoting them into the statement's text in Python held the GIL for a seventh of an HTTP batch's time,
  time the event loop on the job's thread could not run.
- A writer error is raised when the block ends; a block that ends with an error discards what was
  held back and still waits for the chunk being written, so the connection is free again afterwards.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections

from orchestration.db import bound_cursor

Item = TypeVar("Item")
_DONE = object()


class BatchWriter(Generic[Item]):
    def __init__(
        self,
        *,
        write: Callable[[psycopg.Cursor[Any], list[Item]], None],
        usable: Callable[[Item], bool],
        chunk_size: int = 500,
    ) -> None:
        self.write = write
        self.usable = usable
        self.chunk_size = chunk_size
        self.proven = False  # has one result shown the batch is worth storing?
        self._pending: list[Item] = []
        self._held: list[list[Item]] = []
        self._chunks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._db = connections[DEFAULT_DB_ALIAS]
        self._thread = threading.Thread(target=self._run, name="campaign-batch-writer", daemon=True)

    def __enter__(self) -> BatchWriter[Item]:
        if self._db.in_atomic_block:
            raise RuntimeError("BatchWriter commits chunk by chunk: do not use it inside a transaction")
        self._db.ensure_connection()
        self._db.inc_thread_sharing()
        self._thread.start()
        return self

    def add(self, item: Item) -> None:
        """One result (called from the job's thread, in completion order)."""
        self._pending.append(item)
        if not self.proven and self.usable(item):
            self.proven = True
            for chunk in self._held:
                self._chunks.put(chunk)
            self._held.clear()
        if len(self._pending) >= self.chunk_size:
            self._hand_over()

    def _hand_over(self) -> None:
        chunk, self._pending = self._pending, []
        (self._chunks.put if self.proven else self._held.append)(chunk)

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not _DONE:
            if self._error is not None:
                continue  # drain without writing after a failure
            try:
                with bound_cursor(self._db) as cursor:
                    self.write(cursor, chunk)
            except BaseException as exc:  # re-raised in the job's thread
                self._error = exc

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            # The caller accepted the batch: what was held back is written too.
            for chunk in [*self._held, self._pending]:
                if chunk:
                    self._chunks.put(chunk)
        self._held.clear()
        self._pending = []
        self._chunks.put(_DONE)
        self._thread.join()
        self._db.dec_thread_sharing()
        if exc_type is None and self._error is not None:
            raise self._error
