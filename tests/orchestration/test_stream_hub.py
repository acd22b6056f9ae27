"""The event loop's stream hub: one Redis subscription per followed stream, confirmed before a follower
replays; when its connection drops it reconnects and the followers read PostgreSQL again, so an event
whose announcement nobody heard still arrives; a follower that leaves takes its subscription along."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from unittest import mock

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from orchestration import events
from orchestration.announce import CHANNEL_PREFIX
from orchestration.stream_hub import current_hub

pytestmark = pytest.mark.django_db(transaction=True)


def subscribers(stream: str) -> int:
    channel = CHANNEL_PREFIX + stream
    return int(dict(redis.Redis.from_url(settings.REDIS_URL).pubsub_numsub(channel))[channel.encode()])


def _emit(stream: str, type: str, *, announced: bool = True) -> None:
    try:
        if announced:
            events.emit(stream=stream, type=type)
        else:  # the row is written, its announcement is lost
            with mock.patch("orchestration.events.announce_after_commit"):
                events.emit(stream=stream, type=type)
    finally:
        connection.close()  # this runs on asgiref's executor thread, which outlives the test


emit = sync_to_async(_emit, thread_sensitive=False)


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def read_types(stream: str, into: list[str], count: int, *, keepalive: float) -> None:
    generator = events.follow(stream=stream, after=0, keepalive=keepalive)
    try:
        async for frame in generator:
            if frame.startswith("id:"):
                into.append(frame.split("\n")[1].removeprefix("event: "))
            if len(into) == count:
                break
    finally:
        await generator.aclose()


def test_joining_returns_once_redis_confirmed_the_subscription_and_leaving_ends_it():
    async def scenario() -> tuple[int, int, int]:
        hub = current_hub()
        first = await hub.join("hub:confirm", timeout=5)
        confirmed = subscribers("hub:confirm")  # right away: no event committed from now on is missed
        second = await hub.join("hub:confirm", timeout=5)
        shared = subscribers("hub:confirm")
        hub.leave(first)
        hub.leave(second)
        await wait_for(lambda: subscribers("hub:confirm") == 0)
        return confirmed, shared, hub.followers("hub:confirm")

    assert asyncio.run(scenario()) == (1, 1, 0)


def test_after_the_hub_connection_drops_followers_read_what_nobody_announced():
    stream = "hub:drop"

    async def scenario() -> tuple[list[list[str]], list[list[str]], int]:
        hub = current_hub()
        seen: list[list[str]] = [[], [], []]
        # A keep-alive of a minute: within this test, only the hub can make followers read again.
        readers = [asyncio.ensure_future(read_types(stream, into, 3, keepalive=60)) for into in seen]
        await wait_for(lambda: hub.followers(stream) == 3 and subscribers(stream) == 1)
        await emit(stream, "announced")
        await wait_for(lambda: all(len(into) == 1 for into in seen))
        await emit(stream, "unheard", announced=False)
        redis.Redis.from_url(settings.REDIS_URL).client_kill_filter(_type="pubsub")  # the hub's connection
        await wait_for(lambda: subscribers(stream) == 1)  # reconnected and subscribed again
        await wait_for(lambda: all(len(into) == 2 for into in seen), timeout=5)
        after_drop = [list(into) for into in seen]
        await emit(stream, "after_reconnect")  # announced on the new connection
        async with asyncio.timeout(10):
            await asyncio.gather(*readers)
        await wait_for(lambda: subscribers(stream) == 0)  # the followers left: so did the subscription
        return after_drop, seen, hub.followers(stream)

    after_drop, seen, left = asyncio.run(scenario())

    assert after_drop == [["announced", "unheard"]] * 3
    assert seen == [["announced", "unheard", "after_reconnect"]] * 3
    assert left == 0
