"""Event log per stream: gap-free seq, SSE replay from Last-Event-ID, then live frames."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction

from orchestration import events
from orchestration.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


def test_seq_increases_by_one_per_stream():
    for n in range(3):
        events.emit(stream="ev:a", type="tick", payload={"n": n})
    events.emit(stream="ev:b", type="tick")

    assert list(Event.objects.filter(stream="ev:a").values_list("seq", flat=True)) == [1, 2, 3]
    assert list(Event.objects.filter(stream="ev:b").values_list("seq", flat=True)) == [1]


def test_an_event_of_a_rolled_back_change_is_never_written():
    with pytest.raises(RuntimeError), transaction.atomic():
        events.emit(stream="ev:rollback", type="never")
        raise RuntimeError
    assert not Event.objects.filter(stream="ev:rollback").exists()


async def _frames(stream: str, after: int, count: int) -> list[str]:
    frames: list[str] = []
    generator = events.follow(stream=stream, after=after, keepalive=0.2)
    try:
        async with asyncio.timeout(15):
            async for frame in generator:
                if frame.startswith("id:"):
                    frames.append(frame)
                if len(frames) == count:
                    break
    finally:
        await generator.aclose()
    return frames


def _emit_and_disconnect(**kwargs):
    try:
        events.emit(**kwargs)
    finally:
        connection.close()  # this runs on asgiref's executor thread, which outlives the test


def test_sse_replays_after_last_event_id_then_follows_live():
    emit = sync_to_async(_emit_and_disconnect, thread_sensitive=False)

    async def scenario() -> list[str]:
        for n in range(3):
            await emit(stream="ev:sse", type="tick", payload={"n": n})
        reader = asyncio.ensure_future(_frames("ev:sse", after=1, count=4))
        await asyncio.sleep(0.5)
        await emit(stream="ev:sse", type="tock", payload={"n": 3})
        await emit(stream="ev:sse", type="tock", payload={"n": 4})
        return await reader

    frames = asyncio.run(scenario())

    assert [frame.split("\n")[0] for frame in frames] == ["id: 2", "id: 3", "id: 4", "id: 5"]
    assert [frame.split("\n")[1] for frame in frames] == ["event: tick", "event: tick", "event: tock", "event: tock"]
