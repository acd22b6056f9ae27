"""Coalesced progress events: per-item changes of a stream become at most one event per interval.

Items that change together (a worker's flush of file ends, a cancel) are *noted* on the stream's row
inside the transaction of the change; the row keeps them until the stream's last progress event is
`PROGRESS_INTERVAL_SECONDS` old, and the writer that finds it so publishes them all as one event:
`{"items": [...], "counts": {status: n}, "truncated": bool}` (`counts` counts the changed items by
their new status). Items noted within the interval of the last event wait for the next writer, for
the control lane's `flush_due` (every second) or for the stream's next lifecycle event (`events.emit`
publishes pending progress first, so `run_finished` always follows the last files' progress). So a
stream carries a few progress events per second however many workers end its items, and `seq` stays
gap-free: a progress event takes its `seq` under the same row lock as every other event.

An item may appear more than once in one event (it changed twice); the last one is its state. At most
`PENDING_CAP` items are kept per event: past it `truncated` is true and a reader fetches the per-item
state from the API, which live pages do on every progress event anyway.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from django.db import transaction

from .announce import announce_after_commit
from .conf import engine_setting
from .db import bound_cursor

logger = logging.getLogger(__name__)

PENDING_CAP = 1000
FLUSH_BATCH = 500


def note(*, stream: str, type: str, items: list[dict[str, Any]]) -> None:
    """Record changed items of `stream` (inside the caller's transaction); publish them now if the
    stream's last progress event is older than the interval. One progress type per stream."""
    if not items:
        return
    interval = engine_setting("PROGRESS_INTERVAL_SECONDS")
    with transaction.atomic(savepoint=False), bound_cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO orchestration_eventstream AS s
                (name, last_seq, pending_type, pending_items, pending_truncated)
            VALUES (%s, 0, %s, %s::jsonb, false)
            ON CONFLICT (name) DO UPDATE SET
                pending_type = excluded.pending_type,
                pending_truncated = s.pending_truncated
                    OR coalesce(jsonb_array_length(s.pending_items), 0) >= %s,
                pending_items = CASE
                    WHEN coalesce(jsonb_array_length(s.pending_items), 0) >= %s THEN s.pending_items
                    ELSE coalesce(s.pending_items, '[]'::jsonb) || excluded.pending_items
                END
            RETURNING s.progress_at IS NULL OR s.progress_at <= now() - make_interval(secs => %s)
            """,
            [stream, type, json.dumps(items), PENDING_CAP, PENDING_CAP, interval],
        )
        row = cursor.fetchone()
        if row is not None and row[0]:  # the upsert always returns its row
            publish_pending(cursor, stream=stream)


def publish_pending(cursor: Any, *, stream: str) -> int | None:
    """Publish the stream's pending items as one event (the caller's transaction; the row lock orders
    it with every other event of the stream). Returns its seq, or None if nothing was pending."""
    cursor.execute(
        """
        UPDATE orchestration_eventstream AS s
        SET last_seq = s.last_seq + 1, progress_at = now(),
            pending_items = NULL, pending_truncated = false
        FROM (
            SELECT name, pending_type, pending_items, pending_truncated
            FROM orchestration_eventstream WHERE name = %s AND pending_items IS NOT NULL FOR UPDATE
        ) AS old
        WHERE s.name = old.name
        RETURNING s.last_seq, old.pending_type, old.pending_items, old.pending_truncated
        """,
        [stream],
    )
    row = cursor.fetchone()
    if row is None:
        return None
    seq, type, items, truncated = row
    if isinstance(items, str):  # Django's psycopg setup loads jsonb as text (its fields decode it)
        items = json.loads(items)
    payload = {"items": items, "counts": dict(Counter(str(item.get("status")) for item in items))}
    payload["truncated"] = truncated
    cursor.execute(
        "INSERT INTO orchestration_event (stream, seq, type, payload, created_at) VALUES (%s, %s, %s, %s, now())",
        [stream, seq, type, json.dumps(payload)],
    )
    announce_after_commit(stream=stream, seq=seq)
    return int(seq)


def flush_due() -> int:
    """Control lane: publish pending progress of streams whose last progress event is older than the
    interval (nobody wrote to them since). Each stream in its own short transaction."""
    interval = engine_setting("PROGRESS_INTERVAL_SECONDS")
    with bound_cursor() as cursor:
        cursor.execute(
            f"""
            SELECT name FROM orchestration_eventstream
            WHERE pending_items IS NOT NULL
              AND (progress_at IS NULL OR progress_at <= now() - make_interval(secs => %s))
            ORDER BY progress_at NULLS FIRST LIMIT {FLUSH_BATCH}
            """,
            [interval],
        )
        streams = [name for (name,) in cursor.fetchall()]
    published = 0
    for stream in streams:
        with transaction.atomic(), bound_cursor() as cursor:
            published += publish_pending(cursor, stream=stream) is not None
    if published:
        logger.info("engine.progress_flushed streams=%s", published)
    return published
