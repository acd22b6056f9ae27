"""Append-only event log per stream, announced on Redis pub/sub, followed over SSE.

An event is a row written in the transaction of the change it records; the per-stream `seq` is taken
under the stream's row lock, so events commit in `seq` order and a follower that reads `seq > last`
after every announcement never skips one. The announcement only says "go look": PostgreSQL is read.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.http import StreamingHttpResponse

from .announce import CHANNEL_PREFIX, announce_after_commit
from .models import Event
from .progress import publish_pending

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0


REPLAY_BATCH = 500  # events per read while replaying a stream


def emit(*, stream: str, type: str, payload: dict[str, Any] | None = None) -> Event:
    """Record an event (inside the caller's transaction) and announce it after commit. Progress the
    stream still holds back (`progress.py`) is published first, so a lifecycle event follows it."""
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        publish_pending(cursor, stream=stream)
        cursor.execute(
            """
            INSERT INTO orchestration_eventstream (name, last_seq) VALUES (%s, 1)
            ON CONFLICT (name) DO UPDATE SET last_seq = orchestration_eventstream.last_seq + 1
            RETURNING last_seq
            """,
            [stream],
        )
        (seq,) = cursor.fetchone()
        event = Event.objects.create(stream=stream, seq=seq, type=type, payload=payload or {})
    announce_after_commit(stream=stream, seq=seq)
    return event


def events_after(*, stream: str, after: int, limit: int = REPLAY_BATCH) -> list[Event]:
    return list(Event.objects.filter(stream=stream, seq__gt=after).order_by("seq")[:limit])


def _events_after_in_worker_thread(*, stream: str, after: int) -> list[Event]:
    """Runs on an executor thread for a long-lived stream: give its connection back every time, so idle
    followers hold no database connection."""
    try:
        return events_after(stream=stream, after=after)
    finally:
        connection.close()


def format_sse(event: Event) -> str:
    data = json.dumps(
        {"type": event.type, "seq": event.seq, "payload": event.payload, "createdAt": event.created_at.isoformat()}
    )
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"


async def follow(*, stream: str, after: int, keepalive: float = KEEPALIVE_SECONDS) -> AsyncGenerator[str, None]:
    """Replay events after `after`, then follow live. Subscribes before replaying, so nothing committed
    between the replay and the subscription is missed. Yields SSE frames (and keep-alive comments)."""
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub()
    await pubsub.subscribe(CHANNEL_PREFIX + stream)
    fetch = sync_to_async(_events_after_in_worker_thread, thread_sensitive=False)
    try:
        yield "retry: 2000\n\n"
        while True:
            batch = await fetch(stream=stream, after=after)
            for event in batch:
                after = event.seq
                yield format_sse(event)
            if len(batch) == REPLAY_BATCH:
                continue
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=keepalive)
            if message is None:
                yield ": keep-alive\n\n"
    except asyncio.CancelledError:  # the client went away
        raise
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
        await client.aclose()


def last_event_id(request: Any) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("lastEventId") or "0"
    try:
        return max(int(raw), 0)
    except ValueError:
        return 0


def sse_response(request: Any, *, stream: str) -> StreamingHttpResponse:
    """An SSE response for an async (ASGI) view: no thread is held while the client waits."""
    response = StreamingHttpResponse(
        follow(stream=stream, after=last_event_id(request)), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
