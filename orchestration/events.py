"""Append-only event log per stream, announced on Redis pub/sub, followed over SSE.

An event is a row written in the transaction of the change it records; the per-stream `seq` is taken
under the stream's row lock, so events commit in `seq` order and a follower that reads `seq > last`
after every announcement never skips one. The announcement only says "go look": PostgreSQL is read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.http import StreamingHttpResponse

from .announce import announce_after_commit, ring_feeds_after_commit
from .models import Event
from .progress import publish_pending
from .stream_hub import current_hub
from .stream_slots import Slot

logger = logging.getLogger(__name__)

REPLAY_BATCH = 500  # events per read while replaying a stream


def emit(*, stream: str, type: str, payload: dict[str, Any] | None = None, feeds: tuple[str, ...] = ()) -> Event:
    """Record an event (inside the caller's transaction) and announce it after commit. Progress the
    stream still holds back (`progress.py`) is published first, so a lifecycle event follows it.
    `feeds`: change feeds (`feeds.py`, names the domain chooses) rung after commit with `stream`, for
    the events that change what a list of the stream's owner shows (created, status changed)."""
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
    ring_feeds_after_commit(feeds=feeds, note=stream)
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


async def follow(
    *, stream: str, after: int, keepalive: float | None = None, slot: Slot | None = None
) -> AsyncGenerator[str, None]:
    """Replay events after `after`, then follow live. Joins the process's stream hub (one Redis
    subscription per stream, `stream_hub.py`) before replaying, so nothing committed between the replay
    and the subscription is missed. Yields SSE frames, and a keep-alive comment on every tick without
    news; PostgreSQL is read again on that tick too, in case an announcement was lost. Leaving (the
    client went away) gives back the subscription and `slot`."""
    tick = float(settings.RELAY_SSE_KEEPALIVE_SECONDS) if keepalive is None else keepalive
    hub = current_hub()
    bell = None
    fetch = sync_to_async(_events_after_in_worker_thread, thread_sensitive=False)
    try:
        bell = await hub.join(stream, timeout=tick)
        yield "retry: 2000\n\n"
        while True:
            batch = await fetch(stream=stream, after=after)
            for event in batch:
                after = event.seq
                yield format_sse(event)
            if len(batch) == REPLAY_BATCH:
                continue
            if not await bell.wait(tick):
                yield ": keep-alive\n\n"
    finally:
        if bell is not None:
            hub.leave(bell)
        if slot is not None:
            slot.release()


def last_event_id(request: Any) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("lastEventId") or "0"
    try:
        return max(int(raw), 0)
    except ValueError:
        return 0


class EventStreamResponse(StreamingHttpResponse):
    """Closes the follower as soon as the server stops sending (Django's own iteration leaves it to the
    garbage collector), so its subscription and slot are given back at once."""

    def __init__(self, follower: AsyncGenerator[str, None], **kwargs: Any) -> None:
        super().__init__(follower, **kwargs)
        self._follower = follower

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async with aclosing(self._follower) as parts:
            async for part in parts:
                yield self.make_bytes(part)


def sse_response(request: Any, *, stream: str, slot: Slot | None = None) -> StreamingHttpResponse:
    """An SSE response for an async (ASGI) view: no thread is held while the client waits. `slot` (a
    stream cap's place) is released when the stream ends."""
    response = EventStreamResponse(
        follow(stream=stream, after=last_event_id(request), slot=slot), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
