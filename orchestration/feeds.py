"""Change feeds: "something in this set of streams changed, go and read it", over SSE.

A feed is a name the domains choose (a tenant's, say) that `events.emit(feeds=...)` rings after commit
with the changed object's stream as the note (`announce.ring_feeds_after_commit`). It keeps no rows and
has no `seq`: a reader of a feed renders its lists from PostgreSQL, so what it needs is "refresh now",
not a replayable history, and no lifecycle transaction waits on a shared per-feed row lock. So there is
no `Last-Event-ID`: every connection starts with a `resync` frame (sent once the subscription is
confirmed, so nothing committed after it is missed), and a reader refreshes on it; so does a reader
whose connection dropped, when it comes back.

Frames are coalesced: the first ring is sent at once, the rings of the next `coalesce` seconds make
one frame, so a burst (a thousand scans finishing) costs a reader one refresh per interval. A Redis
reconnect of the web process's hub rings every follower without a note: a `changed` frame with no
streams, which a reader treats as "anything may have changed".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator

from django.conf import settings
from django.http import StreamingHttpResponse

from .events import EventStreamResponse
from .stream_hub import current_hub
from .stream_slots import Slot


def format_frame(*, streams: list[str], overflowed: bool, resync: bool = False) -> str:
    data = json.dumps({"streams": streams, "truncated": overflowed, "resync": resync})
    return f"event: changed\ndata: {data}\n\n"


async def follow_feed(
    *, feed: str, coalesce: float | None = None, keepalive: float | None = None, slot: Slot | None = None
) -> AsyncGenerator[str, None]:
    """Join the feed, send the `resync` frame, then one `changed` frame per burst of rings (at most one
    per `coalesce` seconds) and a keep-alive comment on every quiet tick. Leaving gives back the
    subscription and `slot`."""
    tick = float(settings.RELAY_SSE_KEEPALIVE_SECONDS) if keepalive is None else keepalive
    window = float(settings.RELAY_SSE_FEED_COALESCE_SECONDS) if coalesce is None else coalesce
    hub = current_hub()
    bell = None
    try:
        bell = await hub.join(feed, timeout=tick, keep_notes=True)
        yield "retry: 2000\n\n"
        streams, overflowed = bell.take_notes()
        yield format_frame(streams=streams, overflowed=overflowed, resync=True)
        while True:
            if not await bell.wait(tick):
                yield ": keep-alive\n\n"
                continue
            streams, overflowed = bell.take_notes()
            yield format_frame(streams=streams, overflowed=overflowed)
            # The rings of this window wait on the doorbell and go out together, in the next frame.
            await asyncio.sleep(window)
    finally:
        if bell is not None:
            hub.leave(bell)
        if slot is not None:
            slot.release()


def feed_response(*, feed: str, slot: Slot | None = None) -> StreamingHttpResponse:
    """An SSE response following `feed` for an async (ASGI) view; `slot` is released when it ends."""
    response = EventStreamResponse(follow_feed(feed=feed, slot=slot), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
