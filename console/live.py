"""What a live page needs from the event log: where its SSE stream starts, and the recent events."""

from __future__ import annotations

from orchestration.models import Event, EventStream

LOG_EVENTS = 50


def stream_position(*, stream: str) -> int:
    """The stream's last event id: a page rendered now follows the stream from there (`lastEventId`)."""
    return EventStream.objects.filter(name=stream).values_list("last_seq", flat=True).first() or 0


def recent_events(*, stream: str, limit: int = LOG_EVENTS) -> list[Event]:
    """The newest events of the stream, newest first (coalesced progress events left out)."""
    rows = Event.objects.filter(stream=stream).exclude(type__endswith="_progress").order_by("-seq")[:limit]
    return list(rows)
